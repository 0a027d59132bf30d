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
use crate::failure::catch_stage_panic;
use crate::metrics::stage::StageKind;

/// Count, sum, min and max of the integer values seen for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Aggregate {
    pub count: i64,
    pub sum: i64,
    pub min: i64,
    pub max: i64,
}

impl Aggregate {
    /// One value's contribution.
    ///
    /// ```
    /// use differential_dataflow::difference::Semigroup;
    /// use mable_pipeline::pipeline::Aggregate;
    /// let mut a = Aggregate::of(5);
    /// a.plus_equals(&Aggregate::of(-2));
    /// assert_eq!(a, Aggregate { count: 2, sum: 3, min: -2, max: 5 });
    /// ```
    pub fn of(value: i64) -> Aggregate {
        Aggregate {
            count: 1,
            sum: value,
            min: value,
            max: value,
        }
    }
}

impl IsZero for Aggregate {
    fn is_zero(&self) -> bool {
        self.count == 0
    }
}

impl Semigroup for Aggregate {
    fn plus_equals(&mut self, rhs: &Self) {
        if rhs.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *rhs;
            return;
        }
        self.count += rhs.count;
        // Overflow would be a wrong total: fail loudly in the stage rather than wrap.
        self.sum = self
            .sum
            .checked_add(rhs.sum)
            .expect("aggregate sum overflows i64");
        self.min = self.min.min(rhs.min);
        self.max = self.max.max(rhs.max);
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
    let (keyed_out, keyed_stream) = builder.new_output::<Vec<(K, Epoch, Aggregate)>>();
    let mut pass_out = OutputBuilder::from(pass_out);
    let mut keyed_out = OutputBuilder::from(keyed_out);
    let recorder = ctx.recorder(&path, StageKind::Aggregate, info.global_id);
    let supervisor = ctx.supervisor.clone();
    let worker = ctx.worker;
    let stage_path = path.clone();
    builder.build(move |_caps| {
        // Per container, one update per key: the exchange carries keys, not records.
        let mut local: HashMap<K, Aggregate> = HashMap::new();
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
                                local
                                    .entry(k)
                                    .or_insert(Aggregate {
                                        count: 0,
                                        sum: 0,
                                        min: 0,
                                        max: 0,
                                    })
                                    .plus_equals(&Aggregate::of(value_of(r)));
                            }
                        }
                    });
                    if let Err(p) = folded {
                        supervisor.stage_panicked(&stage_path, worker, epoch, &*p);
                        local.clear();
                        continue;
                    }
                    let mut updates: Vec<(K, Epoch, Aggregate)> =
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
    totals.inner.sink(
        Local,
        &format!("{path}/report"),
        move |(input, _frontier)| {
            input.for_each(|_cap, changes| {
                let mut out = aggregates.borrow_mut();
                for ((key, value), epoch, diff) in changes.drain(..) {
                    // Each change is a retraction of the old value and the new value; keep the new.
                    if diff > 0 {
                        out.push(AggregateUpdate {
                            stage: path.clone(),
                            key: serde_json::to_string(&key).unwrap_or_else(|_| format!("{key:?}")),
                            batch: epoch,
                            value,
                        });
                    }
                }
            });
        },
    );
    pass_stream
}
