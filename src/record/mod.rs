//! What a record type needs, and how sources make records.
//!
//! Records travel through timely in `Vec<R>` containers. Any `Clone + Send +
//! serde` type works as a record; the types here keep short strings inline
//! ([`compact_str::CompactString`] stores up to 24 bytes without a heap
//! allocation) because allocation and copying are most of the cost of a
//! pipeline whose per-record logic is cheap.

mod seeded;

pub use seeded::{seeded_hash, seeded_unit};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What every record needs: timely moves it between operators (`Clone`,
/// `'static`), workers (`Send`) and processes (serde; bincode on the wire).
pub trait Record: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}
impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> Record for T {}

/// A record type a dataflow can read from input or make without input.
///
/// ```
/// use mable_pipeline::record::SourceRecord;
/// assert_eq!(i64::synthesize(&5, 9), 5);
/// assert!(i64::generate(7, 42).is_some_and(|v| (0..1000).contains(&v)));
/// ```
pub trait SourceRecord: Record {
    /// Record number `index` of a `--size N` run, made from a record of the input
    /// file (cycled) with fresh ids so that every synthetic record is distinct.
    fn synthesize(template: &Self, index: u64) -> Self;

    /// Record number `index` when there is no input file at all, or `None` when
    /// this type needs one. Must depend only on `index` and `seed`, never on the
    /// worker that makes it.
    fn generate(_index: u64, _seed: u64) -> Option<Self> {
        None
    }
}

/// Integers: the seed's `int` benchmark. Values are pseudo-random in [0, 1000).
impl SourceRecord for i64 {
    fn synthesize(template: &Self, _index: u64) -> Self {
        *template
    }

    fn generate(index: u64, seed: u64) -> Option<Self> {
        Some((seeded_hash(seed, &index.to_le_bytes()) % 1000) as i64)
    }
}
