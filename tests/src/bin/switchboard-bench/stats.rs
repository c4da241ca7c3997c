//! Medians with their spread, percentiles, and the table cells that show them.

/// The samples of one figure over several runs.
#[derive(Debug, Clone, Default)]
pub struct Stat(Vec<f64>);

impl Stat {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|v| v.is_nan())
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.0.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }

    /// The median (the mean of the middle two for an even count); NaN when empty.
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }

    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }

    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }

    /// `median [min..max]` with `decimals` digits after the point.
    pub fn cell(&self, decimals: usize) -> String {
        if self.is_empty() {
            return "-".into();
        }
        format!("{:.d$} [{:.d$}..{:.d$}]", self.median(), self.min(), self.max(), d = decimals)
    }
}

/// The `p`-th percentile (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// `a / b` as `1.23×`, or `-` when either is missing.
pub fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 { "-".into() } else { format!("{:.2}×", a / b) }
}

/// `+12.3` (signed difference), or `-` when either is missing.
pub fn added(a: f64, b: f64, decimals: usize) -> String {
    if a.is_nan() || b.is_nan() { "-".into() } else { format!("{:+.d$}", a - b, d = decimals) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_spread() {
        let s = Stat(vec![3.0, 1.0, 2.0, 10.0, 4.0]);
        assert_eq!(s.median(), 3.0);
        assert_eq!(s.cell(0), "3 [1..10]");
        assert_eq!(Stat(vec![1.0, 2.0]).median(), 1.5);
        assert_eq!(Stat::default().cell(1), "-");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7], 99.0), 7.0);
    }
}
