//! The agent's configuration: one TOML file plus environment overrides.
//!
//! Four sections, every key optional (the defaults are the original design's
//! production settings):
//!
//! | section | what it configures | drives |
//! |---|---|---|
//! | `[pool]` ([`PoolSettings`]) | min/max size, timeouts, sizing | every [`PoolBuilder`](crate::pool::PoolBuilder) from [`crate::Agent::pool_builder`] |
//! | `[memory]` ([`MemoryConfig`]) | cleanup interval, pressure threshold | the agent thread's RSS check and idle trimming |
//! | `[monitoring]` ([`MonitorConfig`]) | sample interval, baseline, floors, suppression, remedies | the agent's [`crate::monitor::Monitor`] |
//! | `[export]` ([`ExportConfig`]) | listen address, labels, Pushgateway, OTLP | the exporters the agent installs |
//!
//! `[pool]` *is* a workload's `[pool]`: the same [`PoolSettings`], read
//! with the same keys, aliases (`min` for `min_size`, `max` for `max_size`)
//! and defaults, and building the same sizing policy (a workload adds its
//! object model beside it). `[monitoring]` *is* a workload's `[monitor]`:
//! the same struct, either name in either file.
//!
//! `config/tidepool.toml` (also [`AgentConfig::DEFAULT_FILE`] and
//! `tidepool config default`) is the default file with every key documented.
//!
//! Errors ([`ConfigError`]) name the file, line, column and key
//! (`agent.toml:3:12: pool.max_size: ...`), or the environment variable
//! (`TIDEPOOL_POOL__MAX_SIZE: ...`). Ranges are the ones the builders
//! enforce: the pool section by [`PoolSettings::validate`] (what the pool
//! builder checks) and the monitoring section by [`MonitorConfig::validate`].
//!
//! # Examples
//!
//! ```
//! use tidepool::config::AgentConfig;
//!
//! let config = AgentConfig::parse("[pool]\nmax_size = 32\n", "agent.toml")?
//!     .with_env([("TIDEPOOL_POOL__MIN_SIZE", "8")])?;
//! assert_eq!((config.pool.min_size, config.pool.max_size), (8, 32));
//!
//! let err = AgentConfig::parse("[pool]\nmax_sise = 32\n", "agent.toml").unwrap_err();
//! assert!(err.to_string().starts_with("agent.toml:2:1: pool.max_sise: unknown field"));
//! # Ok::<(), tidepool::config::ConfigError>(())
//! ```

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::de::{de_bytes, de_duration, ser_duration};
pub use crate::export::ExportConfig;
use crate::monitor::MonitorConfig;
use crate::pool::PoolSettings;
use crate::text::{field_at, line_col, written_in_table, TextError};
use crate::units::fmt_duration;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read, or is not text.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A syntax error, an unknown key, a wrong type or a value out of range.
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line (0 when no line can be named).
        line: usize,
        /// 1-based column.
        column: usize,
        /// The key at fault, with its section (`pool.max_size`).
        key: String,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// An environment override is unknown or its value does not fit.
    #[error("{var}: {message}")]
    Env {
        /// The variable, `TIDEPOOL_POOL__MAX_SIZE`.
        var: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole agent configuration. See the [module docs](self).
///
/// ```
/// use tidepool::config::AgentConfig;
/// let config = AgentConfig::default();
/// assert_eq!(config.pool.max_size, 16);
/// assert_eq!(config.memory.memory_pressure_threshold, 400_000_000);
/// assert_eq!(config.monitoring.baseline_samples, 30);
/// assert_eq!(config.export.listen.to_string(), "127.0.0.1:9464");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// `[pool]`: the settings every agent pool starts from.
    pub pool: PoolSettings,
    /// `[memory]`: the agent's memory cleanup.
    pub memory: MemoryConfig,
    /// `[monitoring]` (or `[monitor]`): the monitor, as in workload files.
    #[serde(alias = "monitor")]
    pub monitoring: MonitorConfig,
    /// `[export]`: where metrics go.
    pub export: ExportConfig,
}

/// `[memory]`: what the agent's thread does about memory.
///
/// Every `cleanup_interval` (3 min) it reads the process's resident set
/// (`/proc/self/status`; nothing happens where that cannot be read) and, when
/// it is above `memory_pressure_threshold` (400 MB), drops the idle objects
/// above `min_size` of every pool the agent watches
/// ([`crate::pool::Pool::trim_idle`]), counting
/// `tidepool_agent_memory_cleanups_total`. The monitor's memory *alerts* are
/// `[monitoring] memory` (500 / 800 / 1200 MB), a separate setting.
///
/// ```
/// let memory = tidepool::config::MemoryConfig::default();
/// assert_eq!(memory.cleanup_interval.as_secs(), 180);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryConfig {
    /// How often the agent checks memory (180 s; 1 s to 24 h).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub cleanup_interval: Duration,
    /// Resident bytes above which a cleanup trims idle objects (400 MB).
    #[serde(deserialize_with = "de_bytes")]
    pub memory_pressure_threshold: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig { cleanup_interval: Duration::from_secs(180), memory_pressure_threshold: 400_000_000 }
    }
}

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "TIDEPOOL_";

const SECTIONS: [&str; 4] = ["pool", "memory", "monitoring", "export"];

impl AgentConfig {
    /// The default file, every key documented (`config/tidepool.toml`,
    /// printed by `tidepool config default`).
    ///
    /// ```
    /// use tidepool::config::AgentConfig;
    /// let parsed = AgentConfig::parse(AgentConfig::DEFAULT_FILE, "tidepool.toml").unwrap();
    /// assert_eq!(parsed, AgentConfig::default());
    /// ```
    pub const DEFAULT_FILE: &'static str = include_str!("../config/tidepool.toml");

    /// Reads and validates a configuration file (no environment overrides:
    /// see [`AgentConfig::with_env`]).
    ///
    /// ```no_run
    /// let config = tidepool::config::AgentConfig::load("config/tidepool.toml".as_ref())?;
    /// # Ok::<(), tidepool::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`], naming the file (and line and key).
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let (text, file) = crate::text::read_text(path)?;
        AgentConfig::parse(&text, &file)
    }

    /// Parses and validates configuration text; `file` names it in errors.
    /// An empty text is the defaults.
    ///
    /// ```
    /// use tidepool::config::AgentConfig;
    /// let err = AgentConfig::parse("[pool]\nmin_size = 20\n", "a.toml").unwrap_err();
    /// assert!(err.to_string().starts_with("a.toml:2:1: pool.min_size: invalid pool size"), "{err}");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`], naming the file, line, column and key.
    pub fn parse(text: &str, file: &str) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |span| line_col(text, span.start));
            let message = crate::text::clip(e.message().trim(), crate::text::MAX_MESSAGE_BYTES);
            let mut field = field_at(text, line, &message);
            // Inside an inline table: `pool_wait = { fatal = 1 }` is `pool_wait.fatal`.
            let source = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
            if let Some((outer, inner)) = source.split_once('=') {
                let outer = outer.trim();
                if inner.trim_start().starts_with('{')
                    && column > source.len() - inner.len()
                    && outer != field
                {
                    field = format!("{outer}.{field}");
                }
            }
            let key = match section_at(text, line) {
                Some(section) if section != field && !field.starts_with(&format!("{section}.")) => {
                    format!("{section}.{field}")
                }
                _ => field,
            };
            ConfigError::Invalid { file: file.into(), line, column, key, message }
        })?;
        if let Err((mut key, message)) = config.check() {
            // min_size > max_size with only min_size written: that is the key.
            if key == "pool.max_size" && find_written(text, &key).is_none() {
                key = "pool.min_size".into();
            }
            let (line, column) = locate(text, &key);
            return Err(ConfigError::Invalid { file: file.into(), line, column, key, message });
        }
        Ok(config)
    }

    /// Applies environment overrides `TIDEPOOL_<SECTION>__<KEY>=value`
    /// (`TIDEPOOL_POOL__MAX_SIZE=32`, `TIDEPOOL_EXPORT__LABELS__INSTANCE=web-7`)
    /// and validates the result. Variables without `__` after the prefix
    /// (`TIDEPOOL_LOG`) are not overrides and are ignored, as is everything
    /// not starting with `TIDEPOOL_`. A value is read as a TOML value
    /// (`32`, `0.5`, `true`, `"3ms"`), else as a string, and must fit the
    /// key's type. Pass `std::env::vars()` for the process environment.
    ///
    /// ```
    /// use tidepool::config::AgentConfig;
    /// let config = AgentConfig::default().with_env([("TIDEPOOL_MONITORING__SAMPLE_INTERVAL", "5s")])?;
    /// assert_eq!(config.monitoring.sample_interval.as_secs(), 5);
    /// let err = AgentConfig::default().with_env([("TIDEPOOL_POOL__MAX_SIZE", "lots")]).unwrap_err();
    /// assert!(err.to_string().starts_with("TIDEPOOL_POOL__MAX_SIZE: "), "{err}");
    /// # Ok::<(), tidepool::config::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Env`] naming the variable: an unknown section or key,
    /// a value of the wrong type or out of range.
    pub fn with_env<I, K, V>(self, vars: I) -> Result<AgentConfig, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars: Vec<(String, String)> =
            vars.into_iter().map(|(k, v)| (k.as_ref().to_string(), v.as_ref().to_string())).collect();
        // `TIDEPOOL_POOL_MAX_SIZE` (one underscore) looks like an override
        // and would be silently ignored: say how to write it.
        if let Some((var, _)) = vars.iter().find(|(k, _)| near_miss(k)) {
            let fixed = var.replacen('_', "__", 2).replacen("__", "_", 1);
            return Err(ConfigError::Env {
                var: var.clone(),
                message: format!("not an override: write {fixed} (two underscores between section and key)"),
            });
        }
        let mut overrides: Vec<(String, Vec<String>, String)> = vars
            .iter()
            .filter_map(|(k, v)| {
                let path = env_path(k)?;
                Some((k.clone(), path, v.clone()))
            })
            .collect();
        if overrides.is_empty() {
            return Ok(self);
        }
        overrides.sort();
        let env = |var: &str, message: String| ConfigError::Env { var: var.to_string(), message };
        let mut table = toml::Table::try_from(&self)
            .map_err(|e| env(&overrides[0].0, format!("cannot apply overrides: {e}")))?;
        for (var, path, raw) in &overrides {
            if path.len() < 2 || path.iter().any(String::is_empty) {
                return Err(env(var, "need TIDEPOOL_<SECTION>__<KEY>".into()));
            }
            if !SECTIONS.contains(&path[0].as_str()) {
                return Err(env(
                    var,
                    format!("unknown section `{}`, expected one of {}", path[0], SECTIONS.join(", ")),
                ));
            }
            let typed = toml_value(raw);
            let is_string = matches!(typed, toml::Value::String(_));
            let mut attempt = table.clone();
            insert(&mut attempt, path, typed).map_err(|m| env(var, m))?;
            match toml::Value::Table(attempt.clone()).try_into::<AgentConfig>() {
                Ok(_) => table = attempt,
                Err(first) => {
                    // `TIDEPOOL_EXPORT__LABELS__BUILD=42`: a number where a
                    // string is wanted is still a string.
                    let mut as_string = table.clone();
                    insert(&mut as_string, path, toml::Value::String(raw.clone()))
                        .map_err(|m| env(var, m))?;
                    if !is_string && toml::Value::Table(as_string.clone()).try_into::<AgentConfig>().is_ok() {
                        table = as_string;
                    } else {
                        return Err(env(var, format!("{}: {}", path.join("."), first.message().trim())));
                    }
                }
            }
        }
        let config: AgentConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e| env(&overrides[0].0, e.message().trim().to_string()))?;
        if let Err((key, message)) = config.check() {
            // The file alone was valid: an override broke it. Blame the
            // variable that set this key, else one of its section.
            let section = key.split('.').next().unwrap_or("");
            let blamed = overrides
                .iter()
                .find(|(_, path, _)| path.join(".") == key)
                .or_else(|| overrides.iter().find(|(_, path, _)| path[0] == section))
                .unwrap_or(&overrides[0]);
            return Err(env(&blamed.0, format!("{key}: {message}")));
        }
        Ok(config)
    }

    /// The key an environment variable overrides (`pool.max_size` for
    /// `TIDEPOOL_POOL__MAX_SIZE`), or `None` if it is not an override.
    ///
    /// ```
    /// use tidepool::config::AgentConfig;
    /// assert_eq!(AgentConfig::env_key("TIDEPOOL_POOL__MAX_SIZE").as_deref(), Some("pool.max_size"));
    /// assert_eq!(AgentConfig::env_key("TIDEPOOL_LOG"), None);
    /// ```
    pub fn env_key(var: &str) -> Option<String> {
        env_path(var).map(|path| path.join("."))
    }

    /// Every cross-field and range check: `(section.key, message)`.
    fn check(&self) -> Result<(), (String, String)> {
        if let Err(e) = self.pool.validate() {
            return Err((format!("pool.{}", e.setting().unwrap_or("sizing")), e.to_string()));
        }
        let memory = &self.memory;
        if memory.cleanup_interval < Duration::from_secs(1)
            || memory.cleanup_interval > Duration::from_secs(86_400)
        {
            return Err(("memory.cleanup_interval".into(), "must be between 1s and 24h".into()));
        }
        if memory.memory_pressure_threshold == 0 {
            return Err(("memory.memory_pressure_threshold".into(), "must be more than 0 bytes".into()));
        }
        self.monitoring.validate().map_err(|(k, m)| (format!("monitoring.{k}"), m))?;
        self.export.check().map_err(|(k, m)| (format!("export.{k}"), m))?;
        Ok(())
    }

    /// A few lines for people: what the agent would do with this.
    ///
    /// ```
    /// let text = tidepool::config::AgentConfig::default().summary();
    /// assert!(text.contains("pool: min_size 4, max_size 16"));
    /// ```
    pub fn summary(&self) -> String {
        let m = &self.monitoring;
        let e = &self.export;
        let labels: Vec<String> = e.labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        let mut out = format!("  pool: {}\n", self.pool.summary());
        out += &format!(
            "  memory: every {} trim idle objects of every agent pool when RSS > {} bytes ({:.1} MB)\n",
            fmt_duration(self.memory.cleanup_interval),
            self.memory.memory_pressure_threshold,
            self.memory.memory_pressure_threshold as f64 / 1e6
        );
        out += &format!(
            "  monitoring: sample every {}, baseline {} samples, suppression {}, auto-resolution (remedies) {}, combine {}\n",
            fmt_duration(m.sample_interval),
            m.baseline_samples,
            if m.suppression { "on" } else { "off" },
            if m.auto_resolution { "on" } else { "off" },
            serde_json::to_value(m.combine).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
        );
        out += &format!(
            "  export: /metrics {}, labels {{{}}}, pushgateway {}, otlp {}\n",
            if e.serve { format!("on {}", e.listen) } else { "off".into() },
            labels.join(", "),
            e.pushgateway.as_deref().unwrap_or("off"),
            e.otlp_endpoint.as_ref().map_or_else(
                || "off".to_string(),
                |u| format!("{u} every {}", fmt_duration(e.otlp_interval))
            ),
        );
        out
    }
}

/// `TIDEPOOL_POOL__MAX_SIZE` -> `["pool", "max_size"]`; `monitor` is
/// `monitoring`. `None` for variables that are not overrides.
fn env_path(var: &str) -> Option<Vec<String>> {
    let rest = var.strip_prefix(ENV_PREFIX)?;
    if !rest.contains("__") {
        return None;
    }
    let mut path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
    if path[0] == "monitor" {
        path[0] = "monitoring".into();
    }
    Some(path)
}

/// A variable that names a section with one underscore before its key
/// (`TIDEPOOL_POOL_MAX_SIZE`), not two.
fn near_miss(var: &str) -> bool {
    let Some(rest) = var.strip_prefix(ENV_PREFIX) else { return false };
    if rest.contains("__") {
        return false;
    }
    let lower = rest.to_ascii_lowercase();
    SECTIONS.iter().chain(&["monitor"]).any(|section| {
        lower.strip_prefix(section).is_some_and(|after| after.starts_with('_') && after.len() > 1)
    })
}

/// An environment value as TOML (`32`, `true`, `"x"`, `{ a = 1 }`), else
/// the text as a string.
fn toml_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .filter(|t| t.len() == 1)
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Sets `path` in `table`, making the tables on the way.
fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else { return Err("empty key".into()) };
    let mut here = table;
    for (i, part) in parents.iter().enumerate() {
        let next = here.entry(part.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = match next {
            toml::Value::Table(t) => t,
            _ => return Err(format!("{} is not a table", path[..=i].join("."))),
        };
    }
    here.insert(last.clone(), value);
    Ok(())
}

/// The section (`pool`, `export.labels`) whose table holds `line`.
fn section_at(text: &str, line: usize) -> Option<String> {
    text.lines()
        .take(line)
        .filter_map(|l| {
            let t = l.split('#').next().unwrap_or(l).trim();
            (t.starts_with('[') && !t.starts_with("[["))
                .then(|| t.trim_matches(|c| c == '[' || c == ']').trim())
        })
        .last()
        .map(str::to_string)
}

/// Where `section.key` is written: the key in its table (under any of its
/// names), else inside an inline table, else the table's header, else 0:0.
fn locate(text: &str, key: &str) -> (usize, usize) {
    if let Some(found) = find_written(text, key) {
        return found;
    }
    let section = key.rsplit_once('.').map_or("", |(section, _)| section);
    let alias = section.replacen("monitoring", "monitor", 1);
    for (i, l) in text.lines().enumerate() {
        let header = l.split('#').next().unwrap_or(l).trim();
        if header == format!("[{section}]") || header == format!("[{alias}]") {
            return (i + 1, 1);
        }
    }
    (0, 0)
}

/// Where `section.key` is written (see [`locate`]), if it is.
fn find_written(text: &str, key: &str) -> Option<(usize, usize)> {
    let (section, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let (top, _) = section.split_once('.').unwrap_or((section, ""));
    let headers: Vec<String> = match top {
        "monitoring" => {
            vec![format!("[{section}]"), format!("[{}]", section.replacen("monitoring", "monitor", 1))]
        }
        _ => vec![format!("[{section}]")],
    };
    let names: Vec<&str> = match leaf {
        "min_size" => vec!["min_size", "min"],
        "max_size" => vec!["max_size", "max"],
        "pushgateway" => vec!["pushgateway", "push"],
        other => vec![other],
    };
    for header in &headers {
        for name in &names {
            if let Some(found) = written_in_table(text, header, name) {
                return Some(found);
            }
        }
    }
    // A key inside an inline table (`stability = { hysteresis = 2 }`,
    // `labels = { job = "" }`).
    for (i, l) in text.lines().enumerate() {
        for name in &names {
            if let Some(c) = l.find(&format!("{name} =")) {
                if l[..c].contains('{') && !l.trim_start().starts_with('#') {
                    return Some((i + 1, c + 1));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_section_and_key() {
        let err = AgentConfig::parse("[pool]\nmax_size = \"big\"\n", "a.toml").unwrap_err().to_string();
        assert!(err.starts_with("a.toml:2:12: pool.max_size: invalid type"), "{err}");
        let err = AgentConfig::parse("[poool]\n", "a.toml").unwrap_err().to_string();
        assert!(err.starts_with("a.toml:1:2: poool: unknown field `poool`"), "{err}");
        let err = AgentConfig::parse(
            "[monitor]\nstability = { confirm_samples = 1, clear_samples = 1, hysteresis = 2 }\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("a.toml:2:") && err.contains("monitoring.hysteresis"), "{err}");
        let err =
            AgentConfig::parse("[export.labels]\n\"bad-name\" = \"x\"\n", "a.toml").unwrap_err().to_string();
        assert!(err.contains("export.labels.bad-name"), "{err}");
    }

    #[test]
    fn env_overrides_are_typed_and_attributed() {
        let c = AgentConfig::default()
            .with_env([
                ("TIDEPOOL_POOL__MAX_SIZE", "32"),
                ("TIDEPOOL_EXPORT__LABELS__INSTANCE", "42"),
                ("TIDEPOOL_MONITOR__SUPPRESSION", "false"),
                ("TIDEPOOL_LOG", "debug"),
                ("PATH", "/bin"),
            ])
            .unwrap();
        assert_eq!(c.pool.max_size, 32);
        assert_eq!(c.export.instance(), Some("42"));
        assert!(!c.monitoring.suppression);
        for (var, value, wanted) in [
            ("TIDEPOOL_POOL__MAX_SISE", "3", "unknown field `max_sise`"),
            ("TIDEPOOL_POOLS__MAX_SIZE", "3", "unknown section `pools`"),
            ("TIDEPOOL_POOL__MAX_SIZE", "5000", "max_size"),
            ("TIDEPOOL_POOL__MIN_SIZE", "20", "pool.max_size"),
            ("TIDEPOOL_POOL__TARGET_UTILIZATION", "2", "out of range"),
        ] {
            let err = AgentConfig::default().with_env([(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(&format!("{var}: ")) && err.contains(wanted), "{err}");
        }
    }
}
