//! This process's resident memory, CPU time, threads and open file
//! descriptors, read from `/proc/self` (Linux). Elsewhere every reading is
//! `None`.
//!
//! [`Publisher`] exports them as the standard `process_*` series (the names
//! Prometheus' client libraries use); the [`Agent`](crate::Agent) publishes
//! them on every sample tick, so a service that embeds the agent has them
//! whatever else it runs.

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

/// Open file descriptors of the process: the entries of `/proc/self/fd`
/// (the directory's own descriptor, open while it is read, excluded).
///
/// # Examples
///
/// ```
/// if let Some(fds) = tidepool::process::open_fds() {
///     assert!(fds >= 3, "stdin, stdout, stderr");
/// }
/// ```
pub fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// `process_resident_memory_bytes`: resident set size (gauge).
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
/// `process_cpu_seconds_total`: user + system CPU time (counter, whole
/// seconds: the `metrics` facade's counters are integers).
pub const CPU_SECONDS: &str = "process_cpu_seconds_total";
/// `process_threads`: threads of the process (gauge).
pub const THREADS: &str = "process_threads";
/// `process_open_fds`: open file descriptors (gauge).
pub const OPEN_FDS: &str = "process_open_fds";

/// Publishes the process's readings as `process_*` series through the
/// installed `metrics` recorder: [`RESIDENT_MEMORY`], [`CPU_SECONDS`],
/// [`THREADS`], [`OPEN_FDS`]. Build it after the recorder is installed (the
/// handles bind then), and call [`Publisher::publish`] periodically.
///
/// The CPU counter is set to the whole seconds used so far
/// ([`metrics::Counter::absolute`]): a counter, so `rate()` and `increase()`
/// read it as one, at one-second resolution (over a one-minute rate window,
/// within 1/60 of a core).
///
/// # Examples
///
/// ```
/// let publisher = tidepool::process::Publisher::new();
/// if let Some(p) = publisher.publish() {
///     assert!(p.rss_bytes > 0);
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Publisher {
    rss: metrics::Gauge,
    cpu: metrics::Counter,
    threads: metrics::Gauge,
    fds: metrics::Gauge,
}

impl Default for Publisher {
    fn default() -> Self {
        Publisher::new()
    }
}

impl Publisher {
    /// Describes the four series and binds their handles in the recorder
    /// installed now.
    pub fn new() -> Publisher {
        metrics::describe_gauge!(RESIDENT_MEMORY, metrics::Unit::Bytes, "Resident memory size in bytes");
        metrics::describe_counter!(
            CPU_SECONDS,
            metrics::Unit::Seconds,
            "Total user and system CPU time spent in seconds (whole seconds)"
        );
        metrics::describe_gauge!(THREADS, "Number of OS threads in the process");
        metrics::describe_gauge!(OPEN_FDS, "Number of open file descriptors");
        Publisher {
            rss: metrics::gauge!(RESIDENT_MEMORY),
            cpu: metrics::counter!(CPU_SECONDS),
            threads: metrics::gauge!(THREADS),
            fds: metrics::gauge!(OPEN_FDS),
        }
    }

    /// Reads the process ([`sample`], [`open_fds`]) and sets the series;
    /// returns the reading (`None`, and nothing set, where `/proc` is not
    /// readable).
    pub fn publish(&self) -> Option<ProcessSample> {
        let p = sample()?;
        self.rss.set(p.rss_bytes as f64);
        // Whole seconds, rounded down: the counter never runs ahead of the
        // time actually used, so it never goes back.
        self.cpu.absolute(p.cpu_seconds as u64);
        self.threads.set(p.threads as f64);
        if let Some(fds) = open_fds() {
            self.fds.set(fds as f64);
        }
        Some(p)
    }
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

    #[test]
    #[cfg(target_os = "linux")]
    fn counts_open_descriptors() {
        let before = super::open_fds().expect("/proc/self/fd is readable on Linux");
        let files: Vec<std::fs::File> =
            (0..20).map(|_| std::fs::File::open("/proc/self/status").expect("open")).collect();
        let during = super::open_fds().expect("readable");
        drop(files);
        // Other tests of this binary open and close files meanwhile: a
        // margin, not an exact count.
        assert!(during >= before + 15, "20 more files open: {before} then {during}");
        assert!(before >= 3, "stdin, stdout, stderr at least: {before}");
    }
}
