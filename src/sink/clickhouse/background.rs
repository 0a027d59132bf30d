//! The ClickHouse sink as the sidecar uses it: a thread of its own sends
//! chunks, so the sidecar never waits on the network.
//!
//! The sidecar hands chunks over through a queue of [`QUEUE_CHUNKS`]. When
//! the queue is full — the server is slow, or away and the sender thread is
//! spending its retry budget — the sidecar writes the chunk to the spool
//! itself (one file per chunk) and tells the sender thread, which drains it
//! once the server takes rows again and nothing newer waits. So memory holds
//! at most the queue plus the chunk being sent, whatever the server does.
//!
//! At the end of the run (and at the flush before the run's own row) the
//! sidecar sets a deadline on the sender's requests ([`StopBy`]): anything not
//! delivered by then — the chunk in flight included — is spooled, so every
//! chunk is settled, and the counts add up, within the time allowed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError, bounded, unbounded};

use super::{ClickHouseSink, Drain, Spooled, StopBy};
use crate::sink::spool::Spool;
use crate::sink::{Chunk, Ledger, Sink};

/// Chunks waiting for the sender thread before the sidecar spills to disk.
pub const QUEUE_CHUNKS: usize = 4;
/// Time allowed beyond a deadline for the sender thread to write what is left
/// to the spool.
const DISK_GRACE: Duration = Duration::from_secs(5);

enum Job {
    Chunk(Chunk),
    /// Settle everything handed over so far by the deadline, then answer.
    Settle(Instant, Sender<()>),
    /// Settle everything by the deadline, then end.
    Finish(Instant),
}

struct Running {
    jobs: Sender<Job>,
    /// The queue's other end, to spool what the thread never got to.
    queue: Receiver<Job>,
    spilled: Sender<Spooled>,
    done: Receiver<()>,
    thread: std::thread::JoinHandle<()>,
}

/// A [`ClickHouseSink`] on a thread of its own; see the module docs.
pub struct BackgroundSink {
    describe: String,
    sink: Option<ClickHouseSink>,
    spool: Arc<Spool>,
    stop: StopBy,
    ledger: Ledger,
    running: Option<Running>,
}

impl BackgroundSink {
    /// Wraps a connected (or spooling) sink; its thread starts with the run.
    pub fn new(sink: ClickHouseSink) -> BackgroundSink {
        BackgroundSink {
            describe: sink.describe(),
            spool: sink.spool(),
            stop: sink.stop_by(),
            ledger: Ledger::default(),
            sink: Some(sink),
            running: None,
        }
    }

    /// Writes a chunk the sender thread cannot take now to the spool, and
    /// tells the thread, which drains it later.
    fn spill(&mut self, chunk: Chunk) {
        let n = chunk.rows.len() as u64;
        match self.spool.push(&chunk) {
            Ok(path) => {
                self.ledger.spooled(n);
                if let Some(r) = &self.running {
                    let _ = r.spilled.send(Spooled {
                        path,
                        table: chunk.rows.table().clone(),
                        rows: n,
                    });
                }
            }
            Err(source) => {
                let e = super::SinkError::Spool {
                    dir: self.spool.dir().to_path_buf(),
                    source,
                };
                self.ledger.failed(n, e.to_string());
            }
        }
    }
}

impl Sink for BackgroundSink {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn start(&mut self, ledger: Ledger) {
        let Some(mut sink) = self.sink.take() else {
            return;
        };
        sink.set_ledger(ledger.clone());
        self.ledger = ledger;
        let (jobs, queue) = bounded(QUEUE_CHUNKS);
        let (spilled, spilled_rx) = unbounded();
        let (done_tx, done) = bounded(1);
        let rx = queue.clone();
        let thread = std::thread::Builder::new()
            .name("mable:clickhouse".into())
            .spawn(move || {
                send_loop(sink, rx, spilled_rx);
                let _ = done_tx.send(());
            })
            .expect("spawn the ClickHouse sender thread");
        self.running = Some(Running {
            jobs,
            queue,
            spilled,
            done,
            thread,
        });
    }

    fn deliver(&mut self, chunk: Chunk) {
        let Some(r) = &self.running else {
            return self.spill(chunk);
        };
        if let Err(e) = r.jobs.try_send(Job::Chunk(chunk))
            && let Job::Chunk(chunk) = e.into_inner()
        {
            self.spill(chunk);
        }
    }

    fn flush(&mut self, deadline: Instant) {
        let Some(r) = &self.running else { return };
        self.stop.set(deadline);
        let (ack_tx, ack) = bounded(1);
        if r.jobs
            .send_deadline(Job::Settle(deadline, ack_tx), deadline + DISK_GRACE)
            .is_ok()
        {
            let _ = ack.recv_deadline(deadline + DISK_GRACE);
        }
        self.stop.clear();
    }

    fn finish(&mut self, deadline: Instant) {
        let Some(r) = self.running.take() else { return };
        self.stop.set(deadline);
        let finished = r
            .jobs
            .send_deadline(Job::Finish(deadline), deadline + DISK_GRACE)
            .is_ok()
            && r.done.recv_deadline(deadline + DISK_GRACE).is_ok();
        if finished {
            let _ = r.thread.join();
            return;
        }
        // The thread is stuck on its disk (or gone): keep what it never started.
        tracing::warn!(
            "the ClickHouse sender did not finish in time; spooling what it had not started"
        );
        while let Ok(job) = r.queue.try_recv() {
            if let Job::Chunk(chunk) = job {
                self.spill(chunk);
            }
        }
    }
}

/// The sender thread: newest chunks first, the spool when there is nothing
/// newer, a probe now and then while the server is away.
fn send_loop(mut sink: ClickHouseSink, jobs: Receiver<Job>, spilled: Receiver<Spooled>) {
    loop {
        spilled.try_iter().for_each(|s| sink.adopt(s));
        let job = if sink.can_drain() {
            match jobs.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Empty) => {
                    if sink.drain_one(Instant::now() + Duration::from_secs(60)) == Drain::Stalled {
                        tracing::debug!("draining the spool stalled; the server is away again");
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
            }
        } else {
            match jobs.recv_timeout(sink.idle_for()) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    sink.come_back(false);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        match job {
            Job::Chunk(chunk) => {
                sink.deliver(&chunk);
            }
            Job::Settle(deadline, ack) => {
                spilled.try_iter().for_each(|s| sink.adopt(s));
                sink.finish(deadline);
                let _ = ack.send(());
            }
            Job::Finish(deadline) => {
                spilled.try_iter().for_each(|s| sink.adopt(s));
                sink.finish(deadline);
                return;
            }
        }
    }
}
