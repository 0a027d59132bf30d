//! Real network hosts for cluster tests: Linux network namespaces.
//!
//! [`Hosts::new`] builds `n` namespaces ("hosts"), each with loopback up and
//! one veth interface `eth0` addressed `10.213.77.(10 + i)/24`, and a switch
//! namespace holding a bridge that joins the other ends. Nothing is added to
//! the machine's own namespace: no interface, no address, no route, so the
//! hosts reach each other and nothing else (they have no default route), and
//! two test processes building hosts at once never collide (each set has its
//! own switch; names carry the test process's id).
//!
//! Everything is torn down on drop, panics included. A test process that
//! was killed leaves its namespaces behind; the next [`Hosts::new`] removes
//! those whose process is gone.
//!
//! Namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN). Without them
//! [`Hosts::new`] prints `SKIPPED: …` and returns `None`, unless
//! `MABLE_REQUIRE_NETNS=1` (set by ops/test.sh; CI runs as root), which
//! turns the skip into a failure, so the tests never pass silently.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The private /24 the hosts live on. Only these namespaces have addresses
/// in it (checked in [`Hosts::new`] against the machine's own addresses).
pub const SUBNET: &str = "10.213.77";
/// A /24 the hosts have a blackhole route to.
pub const BLACKHOLED: &str = "10.213.78";
/// Namespace names start with this, then the test process's id.
const PREFIX: &str = "mblt";

static NEXT: AtomicUsize = AtomicUsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the other namespace tests of this test binary off: their timings
/// (seconds to notice a dead peer) must not depend on a parallel test's load.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// `n` hosts on one bridge. Dropping it removes every namespace.
pub struct Hosts {
    hosts: Vec<String>,
    switch: String,
    /// Hosts whose traffic is dropped (see [`Hosts::partition`]).
    partitioned: Mutex<Vec<usize>>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn namespaces() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes namespaces left by test processes that no longer run.
fn remove_leftovers() {
    for ns in namespaces() {
        let Some(rest) = ns.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

/// Whether the machine's own namespace already uses `subnet` (then these
/// tests would not be alone on it).
fn subnet_in_use(subnet: &str) -> Option<String> {
    for args in [&["-4", "addr", "show"][..], &["-4", "route", "show"][..]] {
        let out = Command::new("ip").args(args).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(line) = text.lines().find(|l| l.contains(&format!("{subnet}."))) {
            return Some(line.trim().to_string());
        }
    }
    None
}

/// Prints why the namespace tests cannot run and returns `None`, or fails
/// when `MABLE_REQUIRE_NETNS=1`.
fn skip(test: &str, why: &str) -> Option<Hosts> {
    let msg = format!(
        "SKIPPED: {test}: cannot build network namespaces ({why}). These tests need root \
         (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2; CI runs them as root"
    );
    if std::env::var("MABLE_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        panic!("{msg}; MABLE_REQUIRE_NETNS=1 makes that a failure");
    }
    // Straight to the process's stderr: the test harness captures
    // `eprintln!` of passing tests, and a skip must show.
    let _ = writeln!(std::io::stderr(), "{msg}");
    None
}

impl Hosts {
    /// Builds `n` hosts, or says why not (see the module docs).
    pub fn new(n: usize, test: &str) -> Option<Hosts> {
        assert!(n < 80, "addresses are .10 to .89");
        if let Some(line) = subnet_in_use(SUBNET) {
            return skip(
                test,
                &format!("this machine already uses {SUBNET}.0/24: {line}"),
            );
        }
        remove_leftovers();
        let base = format!(
            "{PREFIX}{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut hosts = Hosts {
            hosts: Vec::new(),
            switch: format!("{base}sw"),
            partitioned: Mutex::new(Vec::new()),
        };
        match hosts.build(&base, n) {
            Ok(()) => Some(hosts),
            // `hosts` drops here and removes whatever was made.
            Err(why) => skip(test, &why),
        }
    }

    fn build(&mut self, base: &str, n: usize) -> Result<(), String> {
        let sw = self.switch.clone();
        // A namespace of this exact name can only be a leftover of an
        // earlier process that had our process id.
        let _ = ip(&["netns", "del", &sw]);
        ip(&["netns", "add", &sw])?;
        ip(&["-n", &sw, "link", "set", "lo", "up"])?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for i in 0..n {
            let ns = format!("{base}h{i}");
            let _ = ip(&["netns", "del", &ns]);
            ip(&["netns", "add", &ns])?;
            self.hosts.push(ns.clone());
            let port = format!("p{i}");
            let cidr = format!("{}/24", self.addr(i));
            let blackhole = format!("{BLACKHOLED}.0/24");
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
                &sw,
            ])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &sw, "link", "set", &port, "up"])?;
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "route", "add", "blackhole", &blackhole])?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Host `i`'s address on the bridge.
    pub fn addr(&self, i: usize) -> String {
        format!("{SUBNET}.{}", 10 + i)
    }

    /// An address on the hosts' /24 that no host has: nothing answers ARP
    /// for it, so a connection attempt times out.
    pub fn unused_addr(&self) -> String {
        format!("{SUBNET}.99")
    }

    /// An address the hosts have a blackhole route to.
    pub fn blackholed_addr(&self) -> String {
        format!("{BLACKHOLED}.99")
    }

    /// The namespace name of host `i`.
    pub fn namespace(&self, i: usize) -> &str {
        &self.hosts[i]
    }

    /// `program` run inside host `i` (`ip netns exec` execs it, so the
    /// child's pid is the program's own).
    pub fn command(&self, i: usize, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i]]).arg(program);
        c
    }

    /// The mable-pipeline binary inside host `i`, set up like `cli::bin()`.
    pub fn mable(&self, i: usize) -> Command {
        let mut c = self.command(i, Path::new(env!("CARGO_BIN_EXE_mable-pipeline")));
        c.env_remove("CLICKHOUSE_URL").env("RUST_LOG", "warn");
        c
    }

    /// Drops every packet host `i` sends or receives on its link (iptables
    /// inside its namespace): its TCP connections go silent without
    /// breaking. Lifted when the returned guard drops (and with the
    /// namespace in any case).
    pub fn partition(&self, i: usize) -> Partition<'_> {
        for rule in PARTITION_RULES {
            self.iptables(i, "-A", rule)
                .unwrap_or_else(|e| panic!("cannot partition host {i}: {e}"));
        }
        self.partitioned.lock().unwrap().push(i);
        Partition {
            hosts: self,
            host: i,
        }
    }

    fn iptables(&self, i: usize, action: &str, rule: &[&str]) -> Result<(), String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.hosts[i], "iptables", "-w", action])
            .args(rule)
            .output()
            .map_err(|e| format!("cannot run iptables: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    fn heal(&self, i: usize) {
        for rule in PARTITION_RULES {
            let _ = self.iptables(i, "-D", rule);
        }
        self.partitioned.lock().unwrap().retain(|&h| h != i);
    }

    /// Writes a hostfile listing `addrs` (one `host:port` each) to `dir`.
    pub fn hostfile(dir: &Path, name: &str, addrs: &[String]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, addrs.join("\n") + "\n").unwrap();
        path
    }

    /// `host_i:port` for every host.
    pub fn addresses(&self, port: u16) -> Vec<String> {
        (0..self.len())
            .map(|i| format!("{}:{port}", self.addr(i)))
            .collect()
    }
}

const PARTITION_RULES: [&[&str]; 2] = [
    &["INPUT", "-i", "eth0", "-j", "DROP"],
    &["OUTPUT", "-o", "eth0", "-j", "DROP"],
];

impl Drop for Hosts {
    fn drop(&mut self) {
        let partitioned = self.partitioned.lock().unwrap().clone();
        for i in partitioned {
            self.heal(i);
        }
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A host cut off from the others; healed on drop.
pub struct Partition<'a> {
    hosts: &'a Hosts,
    host: usize,
}

impl Drop for Partition<'_> {
    fn drop(&mut self) {
        self.hosts.heal(self.host);
    }
}

/// A process started in a host: killed (and reaped) if still running when
/// dropped, so a failing test leaves nothing behind in a namespace.
pub struct Proc {
    pub child: Child,
    pub host: usize,
}

impl Proc {
    pub fn spawn(mut cmd: Command, host: usize) -> Proc {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn a process in a namespace");
        Proc { child, host }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as a host that dies.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("poll a child")
    }

    /// Waits for the exit and collects what it printed (a few lines: the
    /// pipes never fill).
    pub fn output(mut self) -> Output {
        let status = self.child.wait().expect("wait for a child");
        self.collect(status)
    }

    /// Its exit status and what it printed, once it has exited.
    pub fn exited(&mut self) -> Option<Output> {
        let status = self.try_status()?;
        Some(self.collect(status))
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_end(&mut stdout);
        }
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_end(&mut stderr);
        }
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

/// How one process of [`wait_all`] ended.
pub struct Exit {
    pub host: usize,
    /// Its output, and when it was first seen to have exited (polled every
    /// 2 ms); an error if it still ran at the limit (it was killed then).
    pub result: Result<(Output, Instant), String>,
}

/// Waits for all `procs` at once, each at most `limit` from now.
pub fn wait_all(procs: Vec<Proc>, limit: Duration) -> Vec<Exit> {
    let start = Instant::now();
    let mut waiting: Vec<Option<Proc>> = procs.into_iter().map(Some).collect();
    let mut done: Vec<Option<Exit>> = waiting.iter().map(|_| None).collect();
    while waiting.iter().any(Option::is_some) {
        for (slot, exit) in waiting.iter_mut().zip(done.iter_mut()) {
            let Some(p) = slot else { continue };
            if let Some(out) = p.exited() {
                *exit = Some(Exit {
                    host: p.host,
                    result: Ok((out, Instant::now())),
                });
                *slot = None;
            } else if start.elapsed() > limit {
                p.kill();
                let err = p
                    .exited()
                    .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
                *exit = Some(Exit {
                    host: p.host,
                    result: Err(format!(
                        "host {} still ran after {limit:?} (killed); stderr: {}",
                        p.host,
                        err.unwrap_or_default()
                    )),
                });
                *slot = None;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    done.into_iter().map(Option::unwrap).collect()
}
