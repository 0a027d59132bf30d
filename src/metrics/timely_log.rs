//! Timely's own log, captured per worker: the operator graph (internal
//! operators included), scheduling time and activations per operator, and
//! records per channel.
//!
//! Events arrive in timely's batches of about 80; each updates a few
//! counters in worker-local maps. Rows are made once, at the end of the run.

use super::capture_time::CaptureTime;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use timely::logging::{StartStop, TimelyEvent, TimelyEventBuilder};
use timely::worker::Worker;

use super::rows::{ChannelRow, OperatorRow};
use super::stage::RowContext;

#[derive(Debug, Default)]
struct Operator {
    addr: Vec<usize>,
    name: String,
    started: Option<Duration>,
    schedule_ns: u64,
    activations: u64,
    max_ns: u64,
}

#[derive(Debug, Default)]
struct Channel {
    scope_addr: Vec<usize>,
    source: (usize, usize),
    target: (usize, usize),
    kind: String,
    messages_sent: u64,
    records_sent: u64,
    messages_received: u64,
    records_received: u64,
}

#[derive(Debug, Default)]
struct State {
    operators: HashMap<usize, Operator>,
    channels: HashMap<usize, Channel>,
}

/// Timely's log for one worker.
pub struct TimelyLog {
    state: Rc<RefCell<State>>,
}

impl TimelyLog {
    /// Starts capturing. Call before building the dataflow to be observed:
    /// timely hands loggers to operators when they are built.
    /// Reading the log counts toward `capture`.
    pub fn register(worker: &mut Worker, capture: &CaptureTime) -> TimelyLog {
        let state = Rc::new(RefCell::new(State::default()));
        let s = state.clone();
        let capture = capture.clone();
        if let Some(mut registry) = worker.log_register() {
            registry.insert::<TimelyEventBuilder, _>("timely", move |_time, batch| {
                let Some(events) = batch else { return };
                capture.time(|| {
                    let mut s = s.borrow_mut();
                    for (ts, event) in events.drain(..) {
                        s.apply(ts, event);
                    }
                });
            });
        }
        TimelyLog { state }
    }

    /// The captured graph as rows; `labels` maps stage operators' ids to their stage paths.
    pub fn rows(
        self,
        ctx: &RowContext,
        labels: &[(u64, String)],
    ) -> (Vec<OperatorRow>, Vec<ChannelRow>) {
        let state = self.state.borrow();
        let label: HashMap<u64, &str> = labels.iter().map(|(id, p)| (*id, p.as_str())).collect();
        let timestamp = (ctx.clock.now_us() / 1_000_000) as u32;
        let by_addr: HashMap<&[usize], usize> = state
            .operators
            .iter()
            .map(|(id, op)| (op.addr.as_slice(), *id))
            .collect();
        let is_scope = |addr: &[usize]| {
            state
                .operators
                .values()
                .any(|o| o.addr.len() > addr.len() && o.addr.starts_with(addr))
        };
        let join = |addr: &[usize]| {
            addr.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(".")
        };
        let mut operators: Vec<OperatorRow> = state
            .operators
            .iter()
            .map(|(id, op)| OperatorRow {
                run_id: ctx.run_id.clone(),
                dataflow: ctx.dataflow.clone(),
                worker_id: ctx.worker_id,
                process_id: ctx.process_id,
                operator_id: *id as u64,
                address: join(&op.addr),
                parent_address: join(&op.addr[..op.addr.len().saturating_sub(1)]),
                name: op.name.clone(),
                stage_path: label
                    .get(&(*id as u64))
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                is_scope: is_scope(&op.addr) as u8,
                schedule_ns: op.schedule_ns,
                activations: op.activations,
                max_activation_ns: op.max_ns,
                timestamp,
            })
            .collect();
        operators.sort_by_key(|o| o.operator_id);
        // A channel end's operator is `scope_addr ++ [node]`; node 0 is the scope itself.
        let endpoint = |scope: &[usize], node: usize| -> u64 {
            let mut addr = scope.to_vec();
            if node != 0 {
                addr.push(node);
            }
            by_addr
                .get(addr.as_slice())
                .map_or(u64::MAX, |id| *id as u64)
        };
        let mut channels: Vec<ChannelRow> = state
            .channels
            .iter()
            .map(|(id, c)| ChannelRow {
                run_id: ctx.run_id.clone(),
                dataflow: ctx.dataflow.clone(),
                worker_id: ctx.worker_id,
                process_id: ctx.process_id,
                channel_id: *id as u64,
                scope_address: join(&c.scope_addr),
                source_node: c.source.0 as u32,
                source_port: c.source.1 as u32,
                target_node: c.target.0 as u32,
                target_port: c.target.1 as u32,
                source_operator_id: endpoint(&c.scope_addr, c.source.0),
                target_operator_id: endpoint(&c.scope_addr, c.target.0),
                kind: c.kind.clone(),
                messages_sent: c.messages_sent,
                records_sent: c.records_sent,
                messages_received: c.messages_received,
                records_received: c.records_received,
                timestamp,
            })
            .collect();
        channels.sort_by_key(|c| c.channel_id);
        (operators, channels)
    }
}

impl State {
    fn apply(&mut self, ts: Duration, event: TimelyEvent) {
        match event {
            TimelyEvent::Operates(e) => {
                let op = self.operators.entry(e.id).or_default();
                op.addr = e.addr;
                op.name = e.name;
            }
            TimelyEvent::Channels(e) => {
                let ch = self.channels.entry(e.id).or_default();
                ch.scope_addr = e.scope_addr;
                ch.source = e.source;
                ch.target = e.target;
                ch.kind = e.typ;
            }
            TimelyEvent::Schedule(e) => {
                let op = self.operators.entry(e.id).or_default();
                match e.start_stop {
                    StartStop::Start => op.started = Some(ts),
                    StartStop::Stop => {
                        if let Some(start) = op.started.take() {
                            let ns = ts.saturating_sub(start).as_nanos() as u64;
                            op.schedule_ns += ns;
                            op.activations += 1;
                            op.max_ns = op.max_ns.max(ns);
                        }
                    }
                }
            }
            TimelyEvent::Messages(e) => {
                let ch = self.channels.entry(e.channel).or_default();
                let records = e.record_count.max(0) as u64;
                if e.is_send {
                    ch.messages_sent += 1;
                    ch.records_sent += records;
                } else {
                    ch.messages_received += 1;
                    ch.records_received += records;
                }
            }
            _ => {}
        }
    }
}
