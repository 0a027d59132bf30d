//! `aggregate_by_key`: running count, sum, min and max per key, kept
//! incrementally by differential dataflow and correct across batches,
//! workers and processes.
//!
//! The aggregate itself is differential's *difference* type: each record
//! contributes `{count: 1, sum: v, min: v, max: v}` to its key, and
//! `count_total` over an arrangement accumulates those per key as batches
//! arrive, so a batch costs work in proportion to the keys it touches, not to
//! everything seen before. Values are integers (money in minor units), so
//! sums are exact. At each batch the stage reports the changed keys' new
//! values — not the whole table, not retractions — while the records
//! themselves pass through unchanged.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Instant;

use differential_dataflow::AsCollection;
use differential_dataflow::difference::{IsZero, Semigroup};
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::{Operator, OutputBuilder};

use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;
use crate::failure::{Failure, catch_stage_panic};

/// Count, sum, min and max of the integer values seen for one key, as
/// reported after each batch that changed it.
///
/// ```
/// use mable_pipeline::pipeline::Aggregate;
/// // Two orders of 12.50 and 7.25 EUR, in cents.
/// let a = Aggregate { count: 2, sum: 1975, min: 725, max: 1250 };
/// assert_eq!(a.sum as f64 / a.count as f64, 987.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
}

/// The running total differential keeps per key. The sum is `i128` so that
/// adding up partials can never overflow inside differential (where a panic
/// could not be pinned on the stage); the report checks it fits the `i64`
/// users see and fails the run naming the stage and key when it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct Total {
    count: i64,
    sum: i128,
    min: i64,
    max: i64,
}

impl Total {
    const ZERO: Total = Total {
        count: 0,
        sum: 0,
        min: 0,
        max: 0,
    };

    fn add(&mut self, value: i64) {
        self.plus_equals(&Total {
            count: 1,
            sum: value.into(),
            min: value,
            max: value,
        });
    }
}

impl IsZero for Total {
    fn is_zero(&self) -> bool {
        self.count == 0
    }
}

impl Semigroup for Total {
    fn plus_equals(&mut self, rhs: &Self) {
        if rhs.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *rhs;
            return;
        }
        self.count += rhs.count;
        // i128 holds 2^64 sums of i64::MAX: no input can reach its limit.
        self.sum += rhs.sum;
        self.min = self.min.min(rhs.min);
        self.max = self.max.max(rhs.max);
    }
}

impl TryFrom<Total> for Aggregate {
    type Error = i128;
    fn try_from(t: Total) -> Result<Aggregate, i128> {
        Ok(Aggregate {
            count: t.count,
            sum: i64::try_from(t.sum).map_err(|_| t.sum)?,
            min: t.min,
            max: t.max,
        })
    }
}

/// What a key must be: hashed to its worker, ordered in the arrangement,
/// sent between processes, and shown as JSON.
pub trait AggregateKey:
    Clone + Ord + Hash + std::fmt::Debug + Send + Serialize + for<'de> Deserialize<'de> + 'static
{
}
impl<
    K: Clone + Ord + Hash + std::fmt::Debug + Send + Serialize + for<'de> Deserialize<'de> + 'static,
> AggregateKey for K
{
}

/// A key's new value after a batch, as reported to the summary and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateUpdate {
    pub stage: String,
    /// The key as JSON.
    pub key: String,
    pub batch: Epoch,
    pub value: Aggregate,
}

pub(crate) fn aggregate_by_key<'s, R: 'static, K: AggregateKey>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    mut key_of: impl FnMut(&R) -> Option<K> + 'static,
    mut value_of: impl FnMut(&R) -> i64 + 'static,
) -> Batches<'s, R> {
    let path = ctx.path(name);
    let mut builder = OperatorBuilder::new(path.clone(), stream.scope());
    let info = builder.operator_info();
    let mut input = builder.new_input(stream, Local);
    builder.set_notify_for(0, timely::progress::operate::FrontierInterest::Never);
    let (pass_out, pass_stream) = builder.new_output::<Vec<R>>();
    let (keyed_out, keyed_stream) = builder.new_output::<Vec<(K, Epoch, Total)>>();
    let mut pass_out = OutputBuilder::from(pass_out);
    let mut keyed_out = OutputBuilder::from(keyed_out);
    let recorder = ctx.recorder(&path, StageKind::Aggregate, info.global_id);
    let supervisor = ctx.supervisor.clone();
    let worker = ctx.worker;
    let stage_path = path.clone();
    builder.build(move |_caps| {
        // Per container, one update per key: the exchange carries keys, not records.
        let mut local: HashMap<K, Total> = HashMap::new();
        move |_frontiers| {
            let mut pass = pass_out.activate();
            let mut keyed = keyed_out.activate();
            input.for_each_stamp(|cap, containers| {
                let epoch = cap.least().copied().unwrap_or_default();
                for container in containers {
                    let mut batch = std::mem::take(container);
                    let start = Instant::now();
                    let folded = catch_stage_panic(|| {
                        for r in &batch {
                            if let Some(k) = key_of(r) {
                                local.entry(k).or_insert(Total::ZERO).add(value_of(r));
                            }
                        }
                    });
                    if let Err(p) = folded {
                        supervisor.stage_panicked(&stage_path, worker, epoch, &*p);
                        local.clear();
                        continue;
                    }
                    let mut updates: Vec<(K, Epoch, Total)> =
                        local.drain().map(|(k, a)| (k, epoch, a)).collect();
                    if let Some(r) = &recorder {
                        r.record(epoch, batch.len(), batch.len(), start, Instant::now());
                    }
                    if !updates.is_empty() {
                        keyed.session(&cap).give_container(&mut updates);
                    }
                    if !batch.is_empty() {
                        pass.session(&cap).give_container(&mut batch);
                    }
                }
            });
        }
    });

    let totals = keyed_stream.as_collection().count_total();
    let aggregates = ctx.aggregates.clone();
    let supervisor = ctx.supervisor.clone();
    totals.inner.sink(
        Local,
        &format!("{path}/report"),
        move |(input, _frontier)| {
            input.for_each(|_cap, changes| {
                let mut out = aggregates.borrow_mut();
                for ((key, total), epoch, diff) in changes.drain(..) {
                    // Each change is a retraction of the old value and the new value; keep the new.
                    if diff <= 0 {
                        continue;
                    }
                    let key_json =
                        serde_json::to_string(&key).unwrap_or_else(|_| format!("{key:?}"));
                    match Aggregate::try_from(total) {
                        Ok(value) => out.push(AggregateUpdate {
                            stage: path.clone(),
                            key: key_json,
                            batch: epoch,
                            value,
                        }),
                        Err(sum) => supervisor.fail(Failure::AggregateOverflow {
                            stage: path.clone(),
                            key: key_json,
                            batch: epoch,
                            sum: sum.to_string(),
                        }),
                    }
                }
            });
        },
    );
    pass_stream
}
