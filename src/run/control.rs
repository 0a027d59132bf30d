//! The control plane of a cluster run: one connection per pair of
//! processes beside timely's own, for what timely does not do.
//!
//! - **Heartbeats** every [`HEARTBEAT`], carrying the sender's progress
//!   count. A partitioned host's TCP connections do not break by themselves,
//!   and timely then waits forever; the run's watchdog ([`Watchdog`]) sees
//!   that no process made progress for `--stall-timeout` and names the
//!   processes that went silent.
//! - **Stop requests**: Ctrl-C on one process stops them all, so the
//!   dataflow can drain instead of one process waiting for the others' input.
//! - **End-of-run reports**: every process sends its counts to process 0,
//!   whose summary then covers the whole cluster.
//!
//! Messages are framed like the connection hello (a little-endian `u32`
//! length, then JSON); they are a few per second, never per record.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::stop::{StopFlag, StopReason};

/// How often each process tells the others it is alive.
pub const HEARTBEAT: Duration = Duration::from_millis(250);
/// A peer not heard from for this long is called silent.
const SILENT_AFTER: Duration = Duration::from_secs(2);
/// How long process 0 waits for the others' reports once its run ended.
const REPORT_WAIT: Duration = Duration::from_secs(5);

/// One process's account of its run, sent to process 0 at the end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartReport {
    pub process: usize,
    pub records_in: u64,
    pub records_out: u64,
    pub skipped: u64,
    pub batches: u64,
    pub elapsed_ms: f64,
    pub status: String,
    pub stages: Vec<StagePart>,
    pub aggregates: Vec<AggregatePart>,
}

/// One stage's work in one process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StagePart {
    pub path: String,
    pub kind: String,
    pub input: u64,
    pub output: u64,
    /// Busy time summed over the process's workers.
    pub busy_ns: u64,
    /// The busiest worker's busy time.
    pub busy_max_ns: u64,
    pub batches: u64,
}

/// One aggregate stage's keys in one process: how many, and the top ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregatePart {
    pub stage: String,
    pub keys: u64,
    /// The keys with the largest sums, largest first.
    pub top: Vec<KeyTotal>,
}

/// A key's final aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyTotal {
    pub key: String,
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
}

#[derive(Debug, Serialize, Deserialize)]
enum Message {
    Heartbeat {
        progress: u64,
        batches: u64,
    },
    Stop,
    Report(Box<PartReport>),
    Bye,
    /// The sender's run failed, and why (its one line): sent before it
    /// leaves, so a process that only sees the sender's connection break
    /// names the real cause, not the messenger.
    Failed(String),
}

#[derive(Debug, Default)]
struct Peer {
    /// Milliseconds since the control plane started, at the last message.
    last_heard_ms: AtomicU64,
    progress: AtomicU64,
    batches: AtomicU64,
    /// It said goodbye, or its connection ended.
    gone: AtomicBool,
}

struct State {
    process: usize,
    addresses: Vec<String>,
    start: Instant,
    peers: Vec<Peer>,
    reports: Mutex<Vec<Option<PartReport>>>,
    arrived: Condvar,
    closing: AtomicBool,
    /// Each peer's failure, as it announced it.
    failures: Mutex<Vec<Option<String>>>,
}

impl State {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// This process's end of the control plane: a sender thread and one reader
/// thread per peer.
pub struct Control {
    state: Arc<State>,
    writers: Vec<Option<Arc<Mutex<TcpStream>>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// What the local workers have done, for heartbeats: read a batch, or seen
/// the dataflow's frontier move.
pub trait LocalProgress: Send + Sync + 'static {
    fn progress(&self) -> u64;
    fn batches(&self) -> u64;
}

impl Control {
    /// Starts heartbeats and readers on `controls` (one per other process).
    /// A peer's stop request raises `stop`; ours (a signal) reaches them.
    pub fn start(
        process: usize,
        addresses: Vec<String>,
        controls: Vec<Option<TcpStream>>,
        stop: StopFlag,
        local: Arc<dyn LocalProgress>,
    ) -> Control {
        let n = addresses.len();
        let state = Arc::new(State {
            process,
            addresses,
            start: Instant::now(),
            peers: (0..n).map(|_| Peer::default()).collect(),
            reports: Mutex::new(vec![None; n]),
            arrived: Condvar::new(),
            closing: AtomicBool::new(false),
            failures: Mutex::new(vec![None; n]),
        });
        let mut writers = Vec::with_capacity(n);
        let mut threads = Vec::new();
        for (peer, socket) in controls.into_iter().enumerate() {
            let Some(socket) = socket else {
                writers.push(None);
                continue;
            };
            let _ = socket.set_write_timeout(Some(Duration::from_secs(2)));
            let _ = socket.set_read_timeout(Some(HEARTBEAT * 2));
            state.peers[peer]
                .last_heard_ms
                .store(state.now_ms(), Ordering::Relaxed);
            if let Ok(reader) = socket.try_clone() {
                let (state, stop) = (state.clone(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("mable:control-{peer}"))
                    .spawn(move || read_loop(reader, peer, &state, &stop));
                threads.extend(spawned.ok());
            }
            writers.push(Some(Arc::new(Mutex::new(socket))));
        }
        let heart = {
            let (state, writers, stop) = (state.clone(), writers.clone(), stop.clone());
            std::thread::Builder::new()
                .name("mable:heartbeat".into())
                .spawn(move || {
                    let mut told_stop = false;
                    while !state.closing.load(Ordering::Relaxed) {
                        // A stop of our own (a signal, a closed pipe) is news
                        // for the others; one that came from a peer is not.
                        let ours = stop
                            .reason()
                            .is_some_and(|r| !matches!(r, StopReason::Peer(_)));
                        if ours && !told_stop {
                            send_all(&writers, &Message::Stop);
                            told_stop = true;
                        }
                        send_all(
                            &writers,
                            &Message::Heartbeat {
                                progress: local.progress(),
                                batches: local.batches(),
                            },
                        );
                        std::thread::sleep(HEARTBEAT);
                    }
                })
        };
        threads.extend(heart.ok());
        Control {
            state,
            writers,
            threads,
        }
    }

    /// Progress over the cluster: the sum of every peer's count (ours is
    /// added by the caller).
    fn peers_progress(&self) -> u64 {
        self.state
            .peers
            .iter()
            .map(|p| p.progress.load(Ordering::Relaxed))
            .sum()
    }

    /// The peers not heard from for [`SILENT_AFTER`], with how long.
    fn silent(&self) -> Vec<(usize, Duration)> {
        let now = self.state.now_ms();
        (0..self.state.peers.len())
            .filter(|&p| p != self.state.process)
            .filter_map(|p| {
                let peer = &self.state.peers[p];
                let quiet = Duration::from_millis(
                    now.saturating_sub(peer.last_heard_ms.load(Ordering::Relaxed)),
                );
                (quiet >= SILENT_AFTER && !peer.gone.load(Ordering::Relaxed)).then_some((p, quiet))
            })
            .collect()
    }

    fn describe(&self, p: usize) -> String {
        format!("process {p} ({})", self.state.addresses[p])
    }

    /// Ends the control plane. Every process but 0 sends `report` to process
    /// 0; process 0 waits (at most a few seconds) for all of them and returns
    /// them, its own included.
    pub fn finish(mut self, report: PartReport) -> Vec<PartReport> {
        let state = self.state.clone();
        let mut all = Vec::new();
        if state.process == 0 {
            let deadline = Instant::now() + REPORT_WAIT;
            let mut reports = state.reports.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let missing = (1..state.peers.len())
                    .any(|p| reports[p].is_none() && !state.peers[p].gone.load(Ordering::Relaxed));
                let left = deadline.saturating_duration_since(Instant::now());
                if !missing || left.is_zero() {
                    break;
                }
                reports = state
                    .arrived
                    .wait_timeout(reports, left.min(HEARTBEAT))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            all.push(report);
            all.extend(reports.iter_mut().skip(1).filter_map(Option::take));
        } else if let Some(Some(w)) = self.writers.first() {
            send(w, &Message::Report(Box::new(report)));
        }
        send_all(&self.writers, &Message::Bye);
        state.closing.store(true, Ordering::Relaxed);
        // Give the others a moment to read our goodbye, then hang up.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && (0..state.peers.len())
                .any(|p| p != state.process && !state.peers[p].gone.load(Ordering::Relaxed))
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.hang_up();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        all
    }

    /// Tells every peer this process's run failed, and why.
    pub fn announce_failure(&self, why: &str) {
        send_all(&self.writers, &Message::Failed(why.to_string()));
    }

    /// What `peer` said its failure was, waiting at most `wait` for word
    /// from it: `None` when it went without a word (killed, or its host
    /// gone).
    pub fn failure_of(&self, peer: usize, wait: Duration) -> Option<String> {
        let state = &self.state;
        let deadline = Instant::now() + wait;
        let mut failures = state.failures.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(why) = failures.get(peer).cloned().flatten() {
                return Some(why);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.peers.get(peer)?.gone.load(Ordering::Relaxed) {
                return None;
            }
            failures = state
                .arrived
                .wait_timeout(failures, left.min(Duration::from_millis(20)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn hang_up(&mut self) {
        self.state.closing.store(true, Ordering::Relaxed);
        for w in self.writers.iter().flatten() {
            let _ = w
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Control {
    /// A failed run leaves without reports or goodbyes: the others learn of
    /// it from timely or from its silence.
    fn drop(&mut self) {
        self.hang_up();
    }
}

fn send(writer: &Mutex<TcpStream>, message: &Message) -> bool {
    let Ok(body) = serde_json::to_vec(message) else {
        return false;
    };
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    writer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .write_all(&frame)
        .is_ok()
}

fn send_all(writers: &[Option<Arc<Mutex<TcpStream>>>], message: &Message) {
    for w in writers.iter().flatten() {
        // A peer we cannot write to is noticed by its silence or by timely.
        send(w, message);
    }
}

fn read_loop(mut socket: TcpStream, peer: usize, state: &State, stop: &StopFlag) {
    let mut len = [0u8; 4];
    loop {
        match read_frame(&mut socket, &mut len) {
            Ok(Some(body)) => {
                let p = &state.peers[peer];
                p.last_heard_ms.store(state.now_ms(), Ordering::Relaxed);
                match serde_json::from_slice::<Message>(&body) {
                    Ok(Message::Heartbeat { progress, batches }) => {
                        p.progress.store(progress, Ordering::Relaxed);
                        p.batches.store(batches, Ordering::Relaxed);
                    }
                    Ok(Message::Stop) => stop.raise(StopReason::Peer(peer)),
                    Ok(Message::Report(r)) => {
                        let mut reports = state.reports.lock().unwrap_or_else(|e| e.into_inner());
                        reports[peer] = Some(*r);
                        state.arrived.notify_all();
                    }
                    Ok(Message::Failed(why)) => {
                        let mut failures = state.failures.lock().unwrap_or_else(|e| e.into_inner());
                        failures[peer] = Some(why);
                        state.arrived.notify_all();
                    }
                    Ok(Message::Bye) => {
                        p.gone.store(true, Ordering::Relaxed);
                        state.arrived.notify_all();
                    }
                    Err(_) => {}
                }
            }
            // A read timeout: nothing came; keep listening unless closing.
            Ok(None) => {
                if state.closing.load(Ordering::Relaxed)
                    && state.peers[peer].gone.load(Ordering::Relaxed)
                {
                    return;
                }
            }
            Err(_) => {
                state.peers[peer].gone.store(true, Ordering::Relaxed);
                state.arrived.notify_all();
                return;
            }
        }
    }
}

/// Reads one frame; `Ok(None)` when nothing arrived before the read timeout.
fn read_frame(socket: &mut TcpStream, len: &mut [u8; 4]) -> std::io::Result<Option<Vec<u8>>> {
    match socket.read_exact(len) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let n = u32::from_le_bytes(*len) as usize;
    if n > 1 << 24 {
        return Err(std::io::Error::other("oversized control frame"));
    }
    let mut body = vec![0u8; n];
    // Once a frame has begun, the rest follows at once; wait for it.
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let read = socket.read_exact(&mut body);
    socket.set_read_timeout(Some(HEARTBEAT * 2))?;
    read.map(|()| Some(body))
}

/// Watches for a cluster run that stopped moving.
pub struct Watchdog {
    timeout: Duration,
    last_seen: u64,
    since: Instant,
}

impl Watchdog {
    pub fn new(timeout: Duration) -> Watchdog {
        Watchdog {
            timeout,
            last_seen: u64::MAX,
            since: Instant::now(),
        }
    }

    /// Looks at the cluster's progress (`local` plus every peer's); returns
    /// why the run is stalled once nothing moved for the timeout.
    pub fn check(&mut self, local: u64, control: &Control) -> Option<String> {
        let seen = local.wrapping_add(control.peers_progress());
        if seen != self.last_seen {
            self.last_seen = seen;
            self.since = Instant::now();
            return None;
        }
        let waited = self.since.elapsed();
        if waited < self.timeout {
            return None;
        }
        let silent = control.silent();
        let waiting = if silent.is_empty() {
            let slowest = (0..control.state.peers.len())
                .filter(|&p| p != control.state.process)
                .min_by_key(|&p| control.state.peers[p].batches.load(Ordering::Relaxed));
            match slowest {
                Some(p) => format!(
                    "every process answers, but none moved; the furthest behind is {} at batch {}",
                    control.describe(p),
                    control.state.peers[p].batches.load(Ordering::Relaxed)
                ),
                None => "nothing moved".to_string(),
            }
        } else {
            let named: Vec<String> = silent
                .iter()
                .map(|(p, quiet)| {
                    format!(
                        "{}, silent for {:.1}s",
                        control.describe(*p),
                        quiet.as_secs_f64()
                    )
                })
                .collect();
            format!("waiting on {}", named.join("; "))
        };
        Some(format!(
            "no progress for {}s; {waiting} (a partitioned or frozen host)",
            self.timeout.as_secs()
        ))
    }
}
