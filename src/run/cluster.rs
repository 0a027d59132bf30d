//! Workers and processes: the timely configuration, and agreeing on one run
//! id across all processes of a cluster.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Inspect, Probe};
use timely::worker::Worker;

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
        }
    }

    /// Workers in all processes.
    pub fn peers(&self) -> usize {
        self.threads * self.processes
    }

    /// The peer addresses: the hostfile's first `processes` lines, or
    /// `localhost:2101+i` as timely's own default.
    pub fn addresses(&self) -> Result<Vec<String>, String> {
        match &self.hostfile {
            None => Ok((0..self.processes)
                .map(|i| format!("localhost:{}", 2101 + i))
                .collect()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read hostfile {}: {e}", path.display()))?;
                let lines: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from)
                    .collect();
                if lines.len() < self.processes {
                    return Err(format!(
                        "hostfile {} lists {} addresses but -n is {}: give one host:port line per process",
                        path.display(),
                        lines.len(),
                        self.processes
                    ));
                }
                Ok(lines.into_iter().take(self.processes).collect())
            }
        }
    }

    /// The timely configuration for this process.
    pub fn timely(&self) -> Result<timely::Config, String> {
        if self.process >= self.processes {
            return Err(format!(
                "-p {} is out of range for -n {}: use 0..{}",
                self.process, self.processes, self.processes
            ));
        }
        if self.processes > 1 {
            Ok(timely::Config {
                communication: timely::CommunicationConfig::Cluster {
                    threads: self.threads,
                    process: self.process,
                    addresses: self.addresses()?,
                    report: false,
                    zerocopy: false,
                },
                worker: timely::WorkerConfig::default(),
            })
        } else if self.threads > 1 {
            Ok(timely::Config::process(self.threads))
        } else {
            Ok(timely::Config::thread())
        }
    }
}

/// Every worker proposes `proposal`; all adopt global worker 0's. Runs a tiny
/// dataflow of its own, before the pipeline's.
pub fn agree_on_run_id(worker: &mut Worker, proposal: &str) -> String {
    let agreed = Rc::new(RefCell::new(None::<String>));
    let sink = agreed.clone();
    let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
        let (input, stream) = scope.new_input::<String>();
        let (probe, _) = stream
            .broadcast()
            .inspect(move |id: &String| *sink.borrow_mut() = Some(id.clone()))
            .probe();
        (input, probe)
    });
    if worker.index() == 0 {
        input.send(proposal.to_string());
    }
    drop(input);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    agreed.take().unwrap_or_else(|| proposal.to_string())
}
