//! Synthetic input (`--size N`): record *i* is made from its index alone, by
//! cycling templates read from a file or by the record type's generator.
//! Batch *k* is records `k·B .. (k+1)·B`, split evenly over all workers.

use std::sync::Arc;

use super::{BatchSource, InputError, share};
use crate::base::Epoch;
use crate::record::SourceRecord;

pub(crate) struct IndexedSource<R> {
    templates: Option<Arc<Vec<R>>>,
    size: u64,
    seed: u64,
    index: usize,
    peers: usize,
    batch_size: u64,
    next_batch: u64,
}

impl<R> IndexedSource<R> {
    pub(crate) fn new(
        templates: Option<Arc<Vec<R>>>,
        size: u64,
        seed: u64,
        index: usize,
        peers: usize,
        batch_size: usize,
    ) -> IndexedSource<R> {
        IndexedSource {
            templates,
            size,
            seed,
            index,
            peers,
            batch_size: batch_size.max(1) as u64,
            next_batch: 0,
        }
    }
}

impl<R: SourceRecord> BatchSource<R> for IndexedSource<R> {
    fn next_batch(&mut self, out: &mut Vec<R>) -> Result<Option<Epoch>, InputError> {
        out.clear();
        let first = self.next_batch * self.batch_size;
        if first >= self.size {
            return Ok(None);
        }
        let len = self.batch_size.min(self.size - first);
        let (lo, hi) = share(len, self.index, self.peers);
        out.reserve((hi - lo) as usize);
        match &self.templates {
            Some(t) => out.extend(
                (first + lo..first + hi)
                    .map(|i| R::synthesize(&t[(i % t.len() as u64) as usize], i)),
            ),
            None => out.extend((first + lo..first + hi).filter_map(|i| R::generate(i, self.seed))),
        }
        let epoch = self.next_batch;
        self.next_batch += 1;
        Ok(Some(epoch))
    }
}
