//! Hit-ratio references for a cache under Zipf keys (the independent
//! reference model): the LFU optimum and Che's approximation of LRU.
//! Included by the tests that need it (`#[path = "common/zipf.rs"] mod zipf;`).

#![allow(dead_code)]

/// Each of `keys` keys' request probability, most popular first: rank k
/// asked with probability ∝ k^-s.
pub fn probabilities(keys: usize, s: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=keys).map(|rank| (rank as f64).powf(-s)).collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// The optimal static hit ratio: keep the `c` most popular keys. No cache
/// beats it beyond sampling noise (it is what a perfect LFU converges to).
pub fn lfu_bound(p: &[f64], c: usize) -> f64 {
    p[..c].iter().sum()
}

/// LRU's hit ratio by Che's approximation: the characteristic time `t`
/// solves Σ (1 − e^(−p_i t)) = c, and hit = Σ p_i (1 − e^(−p_i t)).
pub fn che_lru(p: &[f64], c: usize) -> f64 {
    let occupancy = |t: f64| p.iter().map(|&pi| 1.0 - (-pi * t).exp()).sum::<f64>();
    let mut hi = 1.0;
    while occupancy(hi) < c as f64 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if occupancy(mid) < c as f64 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let t = 0.5 * (lo + hi);
    p.iter().map(|&pi| pi * (1.0 - (-pi * t).exp())).sum()
}
