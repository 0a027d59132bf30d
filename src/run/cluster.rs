//! Workers and processes: how a run is spread, where the processes of a
//! cluster listen, and the timely allocators for this process.

use std::path::PathBuf;
use std::time::Duration;

use timely_communication::allocator::AllocatorBuilder;

use super::connect::{ConnectError, Fingerprint, Meeting, connect};
use crate::stop::StopFlag;

/// How the run is spread: `threads` workers in each of `processes` processes.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub threads: usize,
    pub processes: usize,
    pub process: usize,
    /// Timely's hostfile: line *i* is `host:port` of process *i*.
    pub hostfile: Option<PathBuf>,
    /// How long to wait for every process to connect.
    pub connect_timeout: Duration,
    /// How long a cluster run may make no progress anywhere before it is
    /// called stalled (a partitioned host: timely alone would wait forever).
    pub stall_timeout: Duration,
}

/// This process's timely allocators, and the run id every process agreed on.
pub(crate) struct Allocators {
    pub builders: Vec<AllocatorBuilder>,
    pub others: Box<dyn std::any::Any + Send>,
    pub run_id: String,
    /// What "now" means in the pipelines, unix seconds (process 0's).
    pub now: i64,
    /// Where each process listens (empty for a single process).
    pub addresses: Vec<String>,
    /// The control connection to each other process (empty for a single process).
    pub controls: Vec<Option<std::net::TcpStream>>,
    /// Handles on timely's data connections, to end them after a failure.
    pub data: Vec<std::net::TcpStream>,
}

impl ClusterConfig {
    /// A single process with `threads` workers.
    pub fn local(threads: usize) -> ClusterConfig {
        ClusterConfig {
            threads,
            processes: 1,
            process: 0,
            hostfile: None,
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
        }
    }

    /// Workers in all processes.
    pub fn peers(&self) -> usize {
        self.threads * self.processes
    }

    /// Checks `-n`, `-p` and `-w` before anything starts.
    pub fn validate(&self) -> Result<(), ConnectError> {
        if self.threads == 0 || self.processes == 0 {
            return Err(ConnectError::Hostfile(
                "-w and -n must be at least 1".to_string(),
            ));
        }
        if self.process >= self.processes {
            return Err(ConnectError::Hostfile(format!(
                "-p {} is out of range for -n {}: the valid range is 0..={}",
                self.process,
                self.processes,
                self.processes - 1
            )));
        }
        Ok(())
    }

    /// The peer addresses: the hostfile's first `processes` lines (blank
    /// lines and `#` comments skipped), or `localhost:2101+i` as timely's
    /// own default. A line that is not `host:port` is an error naming it.
    pub fn addresses(&self) -> Result<Vec<String>, ConnectError> {
        let Some(path) = &self.hostfile else {
            return Ok((0..self.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConnectError::Hostfile(format!("cannot read hostfile {}: {e}", path.display()))
        })?;
        let mut lines = Vec::new();
        for (no, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(why) = check_address(line) {
                return Err(ConnectError::Hostfile(format!(
                    "hostfile {} line {}: {line:?} {why}: each line is host:port, one per process",
                    path.display(),
                    no + 1
                )));
            }
            lines.push(line.to_string());
        }
        if lines.len() < self.processes {
            return Err(ConnectError::Hostfile(format!(
                "hostfile {} lists {} addresses but -n is {}: give one host:port line per process",
                path.display(),
                lines.len(),
                self.processes
            )));
        }
        lines.truncate(self.processes);
        Ok(lines)
    }

    /// Builds this process's timely allocators: for a cluster, after
    /// connecting to every other process and checking that they all run
    /// with the same `fingerprint` (see [`super::connect`]).
    pub(crate) fn allocators(
        &self,
        fingerprint: &Fingerprint,
        proposed_run_id: &str,
        now: i64,
        stop: &StopFlag,
    ) -> Result<Allocators, ConnectError> {
        self.validate()?;
        if self.processes == 1 {
            let config = match self.threads {
                1 => timely::CommunicationConfig::Thread,
                n => timely::CommunicationConfig::Process(n),
            };
            let (builders, others) = config.try_build().map_err(ConnectError::Timely)?;
            return Ok(Allocators {
                builders,
                others,
                run_id: proposed_run_id.to_string(),
                now,
                addresses: Vec::new(),
                controls: Vec::new(),
                data: Vec::new(),
            });
        }
        let addresses = self.addresses()?;
        let meeting = Meeting {
            addresses: &addresses,
            process: self.process,
            threads: self.threads,
            timeout: self.connect_timeout,
        };
        let connected = connect(&meeting, fingerprint, proposed_run_id, now, stop)?;
        Ok(Allocators {
            builders: connected.builders,
            others: connected.others,
            run_id: connected.run_id,
            now: connected.now,
            addresses,
            controls: connected.controls,
            data: connected.data,
        })
    }
}

/// Why `line` is not a `host:port` address, if it is not.
fn check_address(line: &str) -> Result<(), &'static str> {
    let Some((host, port)) = line.rsplit_once(':') else {
        return Err("has no :port");
    };
    if host.is_empty() {
        return Err("has no host");
    }
    if host.contains(char::is_whitespace) {
        return Err("has spaces in its host");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err("does not end in a port number 1..=65535"),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostfile_lines_must_be_host_and_port() {
        assert!(check_address("10.0.0.1:2101").is_ok());
        assert!(check_address("[::1]:2101").is_ok());
        assert!(check_address("host").is_err());
        assert!(check_address("host:").is_err());
        assert!(check_address(":80").is_err());
        assert!(check_address("host:99999").is_err());
        assert!(check_address("a b:1").is_err());
    }

    #[test]
    fn a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        std::fs::write(&path, "# two hosts\n127.0.0.1:4000\n127.0.0.1 4001\n").unwrap();
        let config = ClusterConfig {
            processes: 2,
            hostfile: Some(path),
            ..ClusterConfig::local(1)
        };
        let e = config.addresses().unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("127.0.0.1 4001"), "{e}");
    }
}
