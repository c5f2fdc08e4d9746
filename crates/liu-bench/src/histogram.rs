//! A fixed-size log-linear histogram of durations in microseconds: exact
//! below 128 µs, then 64 buckets per power of two (under 1.6 % wide), up to
//! about 4.7 hours. Recording never allocates.

/// Values below this are counted exactly.
const LINEAR: u64 = 128;
/// Sub-buckets per power of two, as a bit count.
const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Largest power of two covered (2^34 µs is about 4.7 hours).
const TOP_BIT: u32 = 34;
const BUCKETS: usize = LINEAR as usize + (TOP_BIT - SUB_BITS - 1) as usize * SUB;

/// Counts of durations (µs) in fixed buckets, with exact min, max and sum.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u32; BUCKETS]>,
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min)
            .field("max", &self.max)
            .finish()
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let top = 63 - v.leading_zeros();
    if top >= TOP_BIT {
        return BUCKETS - 1;
    }
    let sub = ((v >> (top - SUB_BITS)) as usize) & (SUB - 1);
    LINEAR as usize + (top - (SUB_BITS + 1)) as usize * SUB + sub
}

/// Lowest value of bucket `i` and its width.
fn bucket_range(i: usize) -> (u64, u64) {
    if i < LINEAR as usize {
        return (i as u64, 1);
    }
    let k = i - LINEAR as usize;
    let top = (k / SUB) as u32 + SUB_BITS + 1;
    let sub = (k % SUB) as u64;
    let width = 1u64 << (top - SUB_BITS);
    ((1u64 << top) + sub * width, width)
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        let c = &mut self.counts[index(micros)];
        *c = c.saturating_add(1);
        self.count += 1;
        self.sum = self.sum.saturating_add(micros);
        self.min = self.min.min(micros);
        self.max = self.max.max(micros);
    }

    pub fn record_duration(&mut self, d: std::time::Duration) {
        self.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn min(&self) -> Option<u64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The value below which a fraction `q` (0..=1) of the samples lie: the
    /// middle of the bucket holding the rank, clamped to [min, max].
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let (low, width) = bucket_range(i);
                return Some((low + width / 2).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut expected_low = 0u64;
        for i in 0..BUCKETS {
            let (low, width) = bucket_range(i);
            assert_eq!(low, expected_low, "bucket {i}");
            assert_eq!(index(low), i);
            assert_eq!(index(low + width - 1), i);
            if low >= LINEAR {
                assert!(width as f64 / low as f64 <= 1.0 / 64.0 + 1e-12);
            }
            expected_low = low + width;
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_within_two_percent() {
        let mut h = Histogram::default();
        // 1 ms .. 10 s, uniformly spread in log space.
        let values: Vec<u64> = (0..10_000)
            .map(|i| (1000.0 * 10f64.powf(4.0 * i as f64 / 9999.0)) as u64)
            .collect();
        for &v in &values {
            h.record(v);
        }
        for q in [0.5, 0.9, 0.95, 0.99] {
            let exact = values[((q * values.len() as f64).ceil() as usize).max(1) - 1] as f64;
            let got = h.quantile(q).unwrap() as f64;
            assert!((got - exact).abs() / exact < 0.02, "q{q}: {got} vs {exact}");
        }
        assert_eq!(h.max(), Some(10_000_000));
        assert_eq!(h.min(), Some(1000));
        assert_eq!(h.count(), 10_000);
    }

    #[test]
    fn small_and_empty() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in [5, 5, 5, 7] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), Some(5));
        assert_eq!(h.quantile(1.0), Some(7));
        let mut g = Histogram::default();
        g.record(1_000_000);
        h.merge(&g);
        assert_eq!(h.quantile(1.0), Some(1_000_000));
        assert_eq!(h.count(), 5);
    }
}
