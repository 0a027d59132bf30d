//! How input is cut into batches.

/// The default batch size: about four batches per worker, so every worker
/// has work while the next batch is read, but never fewer than 1,024 records
/// (per-batch coordination would dominate) nor more than 8,192 per worker.
/// The upper bound is measured: a worker's share of a batch then stays in
/// cache and its memory is reused warm by the next batch; at 32,768 per
/// worker the same run spent 15% of its time zeroing fresh pages and took
/// 40% longer. Rounded up to a multiple of the worker count so every worker
/// gets an equal share.
///
/// The Go seed always used `input / cores`, i.e. two giant batches on two cores.
///
/// ```
/// use mable_pipeline::input::auto_batch_size;
/// assert_eq!(auto_batch_size(10, 8), 1024);
/// assert_eq!(auto_batch_size(1_000_000, 2), 16384);
/// assert_eq!(auto_batch_size(20_000, 2), 2500);
/// ```
pub fn auto_batch_size(records: u64, workers: usize) -> usize {
    let workers = workers.max(1) as u64;
    let b = records.div_ceil(4 * workers).clamp(1024, 8192 * workers);
    (b.div_ceil(workers) * workers) as usize
}

/// The range of positions `[lo, hi)` that worker `index` of `peers` takes
/// out of `len` positions: contiguous, sizes differing by at most one.
///
/// ```
/// use mable_pipeline::input::share;
/// assert_eq!(share(10, 0, 3), (0, 3));
/// assert_eq!(share(10, 2, 3), (6, 10));
/// ```
pub fn share(len: u64, index: usize, peers: usize) -> (u64, u64) {
    let (i, p) = (index as u64, peers.max(1) as u64);
    let lo = (len as u128 * i as u128 / p as u128) as u64;
    let hi = (len as u128 * (i + 1) as u128 / p as u128) as u64;
    (lo, hi)
}
