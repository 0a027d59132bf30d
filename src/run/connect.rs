//! Connecting the processes of a cluster run, ourselves rather than through
//! timely's own set-up.
//!
//! Timely's `Cluster` configuration connects with no deadline (a missing peer
//! hangs forever, in a thread nothing can stop), prints its retries to
//! standard output (where `--output -` puts records), polls for peers once a
//! second, and exchanges nothing but process indices — so processes started
//! with different `-w` crash inside timely with "index out of bounds". Here
//! every pair of processes connects the way timely would (process *i* dials
//! every *j* < *i* and accepts every *j* > *i*), then swaps a [`Hello`]: the
//! settings that must agree, and process 0's run id. Only then are the
//! sockets handed to timely's `initialize_networking_from_sockets`, so a
//! mismatch, a bad address, a peer that never comes or Ctrl-C all end the
//! run with one clear line within the connect timeout.
//!
//! On the wire a hello is a little-endian `u32` length and that many bytes
//! of JSON, read with exact reads: the next byte on the socket belongs to
//! timely.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use timely_communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely_communication::allocator::{AllocatorBuilder, ProcessBuilder};

use crate::stop::StopFlag;

/// What every process of a run must agree on: each of these changes the
/// dataflow graph or which records a worker reads, and timely cannot detect
/// a difference itself (it crashes, hangs, or silently computes nonsense).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub dataflow: String,
    /// Worker threads per process (`-w`).
    pub threads: usize,
    /// Processes (`-n`).
    pub processes: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// `--size`, when records are made rather than read.
    pub size: Option<u64>,
    /// Every stage path, plus extra operators the run adds (the output sink,
    /// the latency probe of metrics capture).
    pub stages: Vec<String>,
    pub version: String,
}

impl Fingerprint {
    /// The settings that differ between `self` (on process `me`) and
    /// `other` (on process `peer`), each as `-w 2 (process 0) vs -w 3 (process 1)`.
    fn differences(&self, me: usize, other: &Fingerprint, peer: usize) -> Vec<String> {
        let size = |s: Option<u64>| s.map_or("none".to_string(), |n| n.to_string());
        let pairs = [
            ("--dataflow", self.dataflow.clone(), other.dataflow.clone()),
            ("-w", self.threads.to_string(), other.threads.to_string()),
            (
                "-n",
                self.processes.to_string(),
                other.processes.to_string(),
            ),
            (
                "--batch-size",
                self.batch_size.to_string(),
                other.batch_size.to_string(),
            ),
            ("--seed", self.seed.to_string(), other.seed.to_string()),
            ("--size", size(self.size), size(other.size)),
            ("version", self.version.clone(), other.version.clone()),
            (
                "stages",
                format!("[{}]", self.stages.join(", ")),
                format!("[{}]", other.stages.join(", ")),
            ),
        ];
        pairs
            .into_iter()
            .filter(|(_, ours, theirs)| ours != theirs)
            .map(|(name, ours, theirs)| {
                let ((a, pa), (b, pb)) = if me < peer {
                    ((ours, me), (theirs, peer))
                } else {
                    ((theirs, peer), (ours, me))
                };
                let note = if name == "stages" {
                    " (--output and --metrics change the stages too)"
                } else {
                    ""
                };
                format!("{name} {a} (process {pa}) vs {name} {b} (process {pb}){note}")
            })
            .collect()
    }
}

/// What one process tells another right after connecting.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Hello {
    magic: String,
    process: usize,
    fingerprint: Fingerprint,
    /// The sender's proposal; everyone adopts process 0's.
    run_id: String,
    /// What "now" means inside the pipelines (unix seconds): process 0's,
    /// so output never depends on which process made a record.
    now: i64,
    /// Each pair of processes opens two connections: timely's data and our
    /// own control channel (heartbeats, stop requests, end-of-run reports).
    control: bool,
}

const MAGIC: &str = "mable-pipeline cluster hello v1";
/// A hello is a few hundred bytes; anything far larger is not one.
const MAX_HELLO: u32 = 1 << 20;
/// How long to wait between attempts to reach a peer that is not there yet.
const RETRY: Duration = Duration::from_millis(50);

/// Why the processes of a cluster could not be connected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Hostfile(String),
    #[error("process {process}: cannot listen on {address}: {reason}")]
    Listen {
        process: usize,
        address: String,
        reason: String,
    },
    #[error(
        "process {process} of {processes}: not all processes connected within {timeout:?} \
         (still missing: {missing}).\n  Start every process with the same -n {processes}, -w and --hostfile (or none), \
         each with its own -p 0..={last}, or raise --connect-timeout"
    )]
    Timeout {
        process: usize,
        processes: usize,
        last: usize,
        timeout: Duration,
        missing: String,
    },
    #[error(
        "process {process} and process {peer} ({address}) were started differently: {differences}.\n  \
         Start every process of a run with the same settings"
    )]
    Mismatch {
        process: usize,
        peer: usize,
        address: String,
        differences: String,
    },
    #[error("process {process}: {address} answered, but not as a mable-pipeline process: {reason}")]
    Protocol {
        process: usize,
        address: String,
        reason: String,
    },
    #[error("interrupted while connecting to the other processes")]
    Interrupted,
    #[error("cannot start timely's networking: {0}")]
    Timely(String),
}

/// The connected cluster, ready for `timely::execute::execute_from`.
pub struct Connected {
    pub builders: Vec<AllocatorBuilder>,
    pub others: Box<dyn std::any::Any + Send>,
    /// Process 0's run id.
    pub run_id: String,
    /// Process 0's "now".
    pub now: i64,
    /// The control connection to each other process (`None` at our own index).
    pub controls: Vec<Option<TcpStream>>,
    /// Second handles on timely's data connections: shutting them down is
    /// the only way to end timely's network threads when a peer went silent
    /// (they block in `read` forever, and joining them would too).
    pub data: Vec<TcpStream>,
}

/// Where the processes of a cluster meet, and how long they wait for each other.
pub struct Meeting<'a> {
    /// Line *i* is where process *i* listens.
    pub addresses: &'a [String],
    /// This process's index.
    pub process: usize,
    /// Worker threads per process.
    pub threads: usize,
    /// How long to wait for every other process.
    pub timeout: Duration,
}

/// Connects this process to all others, checks that they agree on `ours`,
/// adopts process 0's `run_id` and `now`, and builds timely's allocators.
/// Ends within the meeting's timeout, or when `stop` is raised.
pub fn connect(
    meeting: &Meeting<'_>,
    ours: &Fingerprint,
    run_id: &str,
    now: i64,
    stop: &StopFlag,
) -> Result<Connected, ConnectError> {
    let Meeting {
        addresses,
        process,
        threads,
        timeout,
    } = *meeting;
    let deadline = Instant::now() + timeout;
    let n = addresses.len();
    let hello = Hello {
        magic: MAGIC.to_string(),
        process,
        fingerprint: ours.clone(),
        run_id: run_id.to_string(),
        now,
        control: false,
    };
    let control_hello = Hello {
        control: true,
        ..hello.clone()
    };
    let listener =
        TcpListener::bind(addresses[process].as_str()).map_err(|e| ConnectError::Listen {
            process,
            address: addresses[process].clone(),
            reason: e.to_string(),
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| ConnectError::Listen {
            process,
            address: addresses[process].clone(),
            reason: e.to_string(),
        })?;
    let mut sockets: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let mut controls: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let mut hellos: Vec<Option<Hello>> = (0..n).map(|_| None).collect();
    let timed_out = |sockets: &[Option<TcpStream>], controls: &[Option<TcpStream>]| {
        let missing: Vec<String> = (0..n)
            .filter(|&j| j != process && (sockets[j].is_none() || controls[j].is_none()))
            .map(|j| format!("process {j} at {}", addresses[j]))
            .collect();
        ConnectError::Timeout {
            process,
            processes: n,
            last: n - 1,
            timeout,
            missing: missing.join(", "),
        }
    };
    // Dial the lower indices one by one while accepting the higher ones, so
    // neither side waits on the other's order.
    let mut next_dial = 0;
    let mut last_dial = Instant::now() - RETRY;
    let mut dial_error: Option<String> = None;
    loop {
        if stop.is_raised() {
            return Err(ConnectError::Interrupted);
        }
        let pending =
            (0..n).any(|j| j != process && (sockets[j].is_none() || controls[j].is_none()));
        if !pending {
            break;
        }
        if Instant::now() >= deadline {
            let mut e = timed_out(&sockets, &controls);
            if let (ConnectError::Timeout { missing, .. }, Some(why)) = (&mut e, &dial_error) {
                missing.push_str(&format!("; last attempt: {why}"));
            }
            return Err(e);
        }
        let mut progressed = false;
        match listener.accept() {
            Ok((stream, _)) => {
                progressed = true;
                if let Some((stream, theirs)) = accept_one(stream, process, n, &hello, deadline)? {
                    let peer = theirs.process;
                    let slot = if theirs.control {
                        &mut controls[peer]
                    } else {
                        &mut sockets[peer]
                    };
                    if slot.is_some() {
                        return Err(ConnectError::Protocol {
                            process,
                            address: addresses[peer].clone(),
                            reason: format!(
                                "a second process says it is process {peer}: give each process its own -p"
                            ),
                        });
                    }
                    *slot = Some(stream);
                    check(ours, &theirs, process, &addresses[peer])?;
                    hellos[peer] = Some(theirs);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                return Err(ConnectError::Listen {
                    process,
                    address: addresses[process].clone(),
                    reason: e.to_string(),
                });
            }
        }
        if next_dial < process && last_dial.elapsed() >= RETRY {
            last_dial = Instant::now();
            match dial(&addresses[next_dial], deadline) {
                Ok(stream) => {
                    let theirs = greet(&stream, &hello, deadline).map_err(|reason| {
                        ConnectError::Protocol {
                            process,
                            address: addresses[next_dial].clone(),
                            reason,
                        }
                    })?;
                    if theirs.process != next_dial {
                        return Err(ConnectError::Protocol {
                            process,
                            address: addresses[next_dial].clone(),
                            reason: format!(
                                "it is process {}, but hostfile line {} is process {next_dial}",
                                theirs.process,
                                next_dial + 1
                            ),
                        });
                    }
                    check(ours, &theirs, process, &addresses[next_dial])?;
                    // The peer listens: its control connection follows at once.
                    let control = dial(&addresses[next_dial], deadline)
                        .map_err(|e| e.to_string())
                        .and_then(|c| greet(&c, &control_hello, deadline).map(|_| c))
                        .map_err(|reason| ConnectError::Protocol {
                            process,
                            address: addresses[next_dial].clone(),
                            reason: format!("the control connection failed: {reason}"),
                        })?;
                    sockets[next_dial] = Some(stream);
                    controls[next_dial] = Some(control);
                    hellos[next_dial] = Some(theirs);
                    next_dial += 1;
                    progressed = true;
                }
                Err(e) => dial_error = Some(format!("{}: {e}", addresses[next_dial])),
            }
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    drop(listener);
    let (run_id, now) = match (process, &hellos[0]) {
        (1.., Some(h)) => (h.run_id.clone(), h.now),
        _ => (run_id.to_string(), now),
    };
    for s in sockets.iter().flatten() {
        let _ = s.set_read_timeout(None);
        let _ = s.set_write_timeout(None);
        let _ = s.set_nodelay(true);
    }
    let data = sockets
        .iter()
        .flatten()
        .filter_map(|s| s.try_clone().ok())
        .collect();
    let hooks = timely_communication::Hooks::default();
    let local =
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) =
        initialize_networking_from_sockets(local, sockets, process, threads, hooks)
            .map_err(|e| ConnectError::Timely(e.to_string()))?;
    Ok(Connected {
        builders: builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
        others: Box::new(guard),
        run_id,
        now,
        controls,
        data,
    })
}

fn check(
    ours: &Fingerprint,
    theirs: &Hello,
    process: usize,
    address: &str,
) -> Result<(), ConnectError> {
    let differences = ours.differences(process, &theirs.fingerprint, theirs.process);
    if differences.is_empty() {
        return Ok(());
    }
    Err(ConnectError::Mismatch {
        process,
        peer: theirs.process,
        address: address.to_string(),
        differences: differences.join("; "),
    })
}

/// Connects to `address`, giving up at `deadline`.
fn dial(address: &str, deadline: Instant) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in address.to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, left.min(Duration::from_secs(5))) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Handles one incoming connection: reads the dialer's hello first, then
/// answers with ours. Connections that are not a peer's hello (a port
/// scanner, a stray client) are dropped and waiting goes on.
fn accept_one(
    stream: TcpStream,
    process: usize,
    n: usize,
    ours: &Hello,
    deadline: Instant,
) -> Result<Option<(TcpStream, Hello)>, ConnectError> {
    let _ = stream.set_nonblocking(false);
    let theirs = match read_hello(&stream, deadline) {
        Ok(h) => h,
        Err(why) => {
            tracing::debug!(%why, "ignoring a connection that is not a peer");
            return Ok(None);
        }
    };
    if theirs.process <= process || theirs.process >= n {
        // A peer configured with another -n or -p; say so on both sides.
        let _ = write_hello(&stream, ours);
        return Err(ConnectError::Protocol {
            process,
            address: format!("process {}", theirs.process),
            reason: format!(
                "it says it is process {} of {}, but only processes {}..={} dial process {process}: \
                 give each process its own -p and the same -n",
                theirs.process,
                theirs.fingerprint.processes,
                process + 1,
                n - 1
            ),
        });
    }
    write_hello(&stream, ours).map_err(|e| ConnectError::Protocol {
        process,
        address: format!("process {}", theirs.process),
        reason: format!("it went away during the hello: {e}"),
    })?;
    Ok(Some((stream, theirs)))
}

/// The dialer's side: sends our hello, reads theirs.
fn greet(stream: &TcpStream, ours: &Hello, deadline: Instant) -> Result<Hello, String> {
    write_hello(stream, ours).map_err(|e| format!("cannot send the hello: {e}"))?;
    read_hello(stream, deadline)
}

fn write_hello(mut stream: &TcpStream, hello: &Hello) -> std::io::Result<()> {
    let body = serde_json::to_vec(hello).map_err(std::io::Error::other)?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut msg = (body.len() as u32).to_le_bytes().to_vec();
    msg.extend_from_slice(&body);
    stream.write_all(&msg)
}

fn read_hello(mut stream: &TcpStream, deadline: Instant) -> Result<Hello, String> {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100));
    stream
        .set_read_timeout(Some(left))
        .map_err(|e| e.to_string())?;
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("no hello: {e}"))?;
    let len = u32::from_le_bytes(len);
    if len > MAX_HELLO {
        return Err(format!("a {len}-byte hello is not one"));
    }
    let mut body = vec![0u8; len as usize];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("a short hello: {e}"))?;
    let hello: Hello = serde_json::from_slice(&body).map_err(|e| format!("not a hello: {e}"))?;
    if hello.magic != MAGIC {
        return Err(format!("unknown protocol {:?}", hello.magic));
    }
    Ok(hello)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(threads: usize) -> Fingerprint {
        Fingerprint {
            dataflow: "int".into(),
            threads,
            processes: 2,
            batch_size: 100,
            seed: 0,
            size: Some(10),
            stages: vec!["a".into()],
            version: "1".into(),
        }
    }

    #[test]
    fn differences_name_both_values() {
        let d = fp(2).differences(1, &fp(3), 0);
        assert_eq!(d, ["-w 3 (process 0) vs -w 2 (process 1)"]);
        assert!(fp(2).differences(0, &fp(2), 1).is_empty());
    }
}
