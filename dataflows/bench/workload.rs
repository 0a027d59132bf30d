//! What is measured: one of the seed's three dataflows over N records, and
//! what a run of it produces, so every implementation can be checked
//! against the engine.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::dataflows::mable_event::MaxPrice;
use crate::dataflows::records::MableEvent;
use crate::dataflows::test_struct::Totals;

/// One of the Go seed's benchmark pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Workload {
    /// `int`: the Go seed's `BenchmarkPipeline`.
    Int,
    /// `test_struct`: `BenchmarkTestStructPipeline`.
    TestStruct,
    /// `mable_event`: `BenchmarkMableEventPipeline`.
    MableEvent,
}

impl Workload {
    /// All three, in the Go seed's order.
    pub const ALL: [Workload; 3] = [Workload::Int, Workload::TestStruct, Workload::MableEvent];

    /// The dataflow's name (`--dataflow`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::Int => "int",
            Workload::TestStruct => "test_struct",
            Workload::MableEvent => "mable_event",
        }
    }

    /// The Go seed's benchmark name.
    pub fn go_name(self) -> &'static str {
        match self {
            Workload::Int => "BenchmarkPipeline",
            Workload::TestStruct => "BenchmarkTestStructPipeline",
            Workload::MableEvent => "BenchmarkMableEventPipeline",
        }
    }

    /// The workload whose dataflow is called `name`.
    pub fn from_name(name: &str) -> anyhow::Result<Workload> {
        match Workload::ALL.into_iter().find(|w| w.name() == name) {
            Some(w) => Ok(w),
            None => {
                bail!("no benchmark for dataflow `{name}`: choose int, test_struct or mable_event")
            }
        }
    }
}

/// Everything one operation needs: the Go seed's "generate N records, run
/// the pipeline over them".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub workload: Workload,
    /// Input records.
    pub size: u64,
    /// `--seed`: drives generated values and prices.
    pub seed: u64,
    /// The event(s) `mable_event` cycles to `size` records.
    pub template: PathBuf,
}

/// The reduce stage's result over the whole input (the engine's per-batch
/// results merged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reduced {
    /// `int`: the sum (wrapping).
    Sum(i64),
    /// `test_struct`: total value and count.
    Totals(Totals),
    /// `mable_event`: the most expensive event.
    MaxPrice(MaxPrice),
}

impl Reduced {
    /// The empty result of `workload`'s reduce.
    pub fn empty(workload: Workload) -> Reduced {
        match workload {
            Workload::Int => Reduced::Sum(0),
            Workload::TestStruct => Reduced::Totals(Totals::default()),
            Workload::MableEvent => Reduced::MaxPrice(MaxPrice::default()),
        }
    }

    /// Parses one reduce result as the engine reports it (JSON).
    pub fn from_json(workload: Workload, json: &str) -> anyhow::Result<Reduced> {
        Ok(match workload {
            Workload::Int => Reduced::Sum(serde_json::from_str(json)?),
            Workload::TestStruct => Reduced::Totals(serde_json::from_str(json)?),
            Workload::MableEvent => Reduced::MaxPrice(serde_json::from_str(json)?),
        })
    }

    /// Folds `other` in, as the dataflow's reduce merges partials.
    pub fn merge(&mut self, other: Reduced) {
        match (self, other) {
            (Reduced::Sum(a), Reduced::Sum(b)) => *a = a.wrapping_add(b),
            (Reduced::Totals(a), Reduced::Totals(b)) => {
                a.total_value += b.total_value;
                a.count += b.count;
            }
            (Reduced::MaxPrice(a), Reduced::MaxPrice(b)) => a.offer(&b.eid, b.price),
            (a, b) => panic!("cannot merge {a:?} with {b:?}"),
        }
    }

    /// Equal, up to rounding of float sums done in a different order.
    pub fn agrees_with(&self, other: &Reduced) -> bool {
        match (self, other) {
            (Reduced::Totals(a), Reduced::Totals(b)) => {
                a.count == b.count
                    && (a.total_value - b.total_value).abs()
                        <= 1e-9 * a.total_value.abs().max(b.total_value.abs()).max(1.0)
            }
            (a, b) => a == b,
        }
    }
}

/// What one operation produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Records that reached `collect`.
    pub records_out: u64,
    /// The reduce stage's result over the whole input.
    pub reduced: Reduced,
}

impl Outcome {
    /// Same count, same reduce result (up to float rounding).
    pub fn agrees_with(&self, other: &Outcome) -> bool {
        self.records_out == other.records_out && self.reduced.agrees_with(&other.reduced)
    }
}

/// Reads the events of a JSON object, array or NDJSON file: what the engine
/// cycles with `--size N`.
pub fn load_events(path: &Path) -> anyhow::Result<Vec<MableEvent>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the template {}", path.display()))?;
    let events: Vec<MableEvent> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text)?
    } else {
        serde_json::Deserializer::from_str(&text)
            .into_iter::<MableEvent>()
            .collect::<Result<_, _>>()?
    };
    if events.is_empty() {
        bail!("{} holds no events", path.display());
    }
    Ok(events)
}
