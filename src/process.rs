//! This process's resident memory, CPU time and threads, read from
//! `/proc/self` (Linux). Elsewhere every reading is `None`.

/// One reading of the process.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProcessSample {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User + system CPU time since the process started, seconds.
    pub cpu_seconds: f64,
    /// Threads of the process.
    pub threads: u64,
}

/// `/proc/[pid]/stat` counts CPU time in USER_HZ ticks, which Linux fixes
/// at 100 for user space on every architecture it exports them.
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads the process now.
///
/// # Examples
///
/// ```
/// if let Some(p) = tidepool::process::sample() {
///     assert!(p.rss_bytes > 0);
///     assert!(p.threads >= 1);
/// }
/// ```
pub fn sample() -> Option<ProcessSample> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
    };
    let rss_bytes = field("VmRSS:")? * 1024;
    let threads = field("Threads:")?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from the last ')'. utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(ProcessSample { rss_bytes, cpu_seconds: (utime + stime) as f64 / TICKS_PER_SECOND, threads })
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let before = super::sample().expect("/proc/self is readable on Linux");
        // Burn a little CPU and memory, then read again.
        let v: Vec<u64> = (0..4_000_000).collect();
        let mut x = 0u64;
        for _ in 0..30 {
            x = x.wrapping_add(v.iter().fold(0u64, |a, &b| a ^ b.wrapping_mul(31)));
        }
        let after = super::sample().expect("readable");
        assert!(x != 1, "keep the work");
        assert!(after.rss_bytes >= 16 << 20, "32 MB vector resident: {after:?}");
        assert!(after.cpu_seconds >= before.cpu_seconds);
        assert!(after.threads >= 1);
    }
}
