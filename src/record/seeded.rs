//! Deterministic "randomness": a pure function of the run's `--seed` and a
//! record's own id, so a run's output never depends on worker count, batch
//! size or process count.

/// A 64-bit hash of `key` under `seed` (FNV-1a folded through a SplitMix64
/// finaliser: cheap, no allocation, well mixed in every bit).
///
/// ```
/// use mable_pipeline::record::seeded_hash;
/// assert_eq!(seeded_hash(1, b"event_1"), seeded_hash(1, b"event_1"));
/// assert_ne!(seeded_hash(1, b"event_1"), seeded_hash(2, b"event_1"));
/// ```
#[inline]
pub fn seeded_hash(seed: u64, key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for &b in key {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finaliser.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// A number in `[0, 1)` derived from `seed` and `key`.
///
/// ```
/// use mable_pipeline::record::seeded_unit;
/// let u = seeded_unit(7, b"abc");
/// assert!((0.0..1.0).contains(&u));
/// ```
#[inline]
pub fn seeded_unit(seed: u64, key: &[u8]) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (seeded_hash(seed, key) >> 11) as f64 / (1u64 << 53) as f64
}
