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

use differential_dataflow::AsCollection;
use differential_dataflow::difference::{IsZero, Semigroup};
use differential_dataflow::operators::CountTotal;
use serde::{Deserialize, Serialize};
use timely::dataflow::channels::pact::Pipeline as Local;
use timely::dataflow::operators::generic::Operator;

use super::stage::{TwoWay, two_way_stage};
use super::{Batches, BuildContext, Epoch};
use crate::base::StageKind;
use crate::failure::Failure;

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

/// Folds a container into one update per key: the exchange carries keys,
/// not records, and the records pass on unchanged.
struct Fold<K, F, V> {
    key_of: F,
    value_of: V,
    local: HashMap<K, Total>,
}

impl<R, K, F, V> TwoWay<R, R, (K, Epoch, Total)> for Fold<K, F, V>
where
    R: 'static,
    K: AggregateKey,
    F: FnMut(&R) -> Option<K> + 'static,
    V: FnMut(&R) -> i64 + 'static,
{
    fn container(
        &mut self,
        epoch: Epoch,
        batch: Vec<R>,
        keyed: &mut Vec<(K, Epoch, Total)>,
    ) -> Vec<R> {
        // Empty unless a panic cut the last container short.
        self.local.clear();
        for r in &batch {
            if let Some(k) = (self.key_of)(r) {
                self.local
                    .entry(k)
                    .or_insert(Total::ZERO)
                    .add((self.value_of)(r));
            }
        }
        keyed.extend(self.local.drain().map(|(k, a)| (k, epoch, a)));
        batch
    }
}

pub(crate) fn aggregate_by_key<'s, R: 'static, K: AggregateKey>(
    stream: Batches<'s, R>,
    ctx: &BuildContext,
    name: &str,
    key_of: impl FnMut(&R) -> Option<K> + 'static,
    value_of: impl FnMut(&R) -> i64 + 'static,
) -> Batches<'s, R> {
    let path = ctx.path(name);
    let fold = Fold {
        key_of,
        value_of,
        local: HashMap::new(),
    };
    let (pass_stream, keyed_stream) =
        two_way_stage(stream, ctx, name, StageKind::Aggregate, Local, fold);

    let totals = keyed_stream.as_collection().count_total();
    let results = ctx.results.clone();
    let supervisor = ctx.supervisor.clone();
    totals.inner.sink(
        Local,
        &format!("{path}/report"),
        move |(input, _frontier)| {
            input.for_each(|_cap, changes| {
                for ((key, total), epoch, diff) in changes.drain(..) {
                    // Each change is a retraction of the old value and the new value; keep the new.
                    if diff <= 0 {
                        continue;
                    }
                    let key_json =
                        serde_json::to_string(&key).unwrap_or_else(|_| format!("{key:?}"));
                    match Aggregate::try_from(total) {
                        Ok(value) => results.aggregated(AggregateUpdate {
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
