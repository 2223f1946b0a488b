//! [`PoolSettings`]: every setting of a pool that a file can hold, in one
//! type. The agent configuration's `[pool]`, a workload's `[pool]` and
//! [`PoolBuilder`](super::PoolBuilder) all read and default it the same way,
//! so a pool built from either file is the same pool.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::BuildError;
use super::sizing::{FixedPolicy, SizingPolicy, UtilizationPolicy};
use super::MAX_POOL_SIZE;
use crate::de::{de_duration, de_fraction_open, de_opt_duration, ser_duration, ser_opt_duration};

const MS: Duration = Duration::from_millis(1);
const DAY: Duration = Duration::from_secs(86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// A pool's settings: sizes, timeouts, sizing, expiry, leak detection.
///
/// The defaults are the [`PoolBuilder`](super::PoolBuilder)'s: `min_size`
/// 4, `max_size` 16, `acquire_timeout` 30 s (HikariCP's, r2d2's and bb8's
/// default), utilization sizing at 0.75 every 15 s, maintenance every 1 s,
/// no idle timeout, lifetime or leak threshold.
///
/// In TOML (the agent's `[pool]`, a workload's `[pool]`) every key is
/// optional, `min_size` may be written `min` and `max_size` `max`, and
/// durations are `"250ms"`-style strings or numbers of seconds:
///
/// ```
/// use tidepool::pool::{PoolSettings, Sizing};
///
/// let settings: PoolSettings = toml::from_str("max = 32\ncontention_threshold = \"3ms\"\n").unwrap();
/// assert_eq!((settings.min_size, settings.max_size), (4, 32));
/// assert_eq!(settings.sizing, Sizing::Utilization);
///
/// let pool = settings.configure(tidepool::pool::Pool::builder("db")).factory(|| Ok(0u8)).build().unwrap();
/// assert_eq!(pool.status().max, 32);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// Objects created at build and kept (4). Also written `min`.
    #[serde(alias = "min")]
    pub min_size: usize,
    /// The most objects the pool holds (16, at most 4096). Also written `max`.
    #[serde(alias = "max")]
    pub max_size: usize,
    /// How long an acquire waits in line before it times out (30 s; 1 ms
    /// to 24 h).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub acquire_timeout: Duration,
    /// `utilization` (adaptive, the default) or `fixed` (target = max).
    pub sizing: Sizing,
    /// The in-use / size ratio the adaptive sizing steers to (0.75), in
    /// `(0, 1]`.
    #[serde(deserialize_with = "de_fraction_open")]
    pub target_utilization: f64,
    /// When waits count as contention for the adaptive sizing (see
    /// [`UtilizationPolicy`]): unset (the default), when more than 1 % of an
    /// interval's acquires waited at all; set, when the interval's mean
    /// wait over every acquire is above it (e.g. `"3ms"`).
    #[serde(
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub contention_threshold: Option<Duration>,
    /// How often the sizing policy runs (15 s; 1 ms to 24 h).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub sizing_interval: Duration,
    /// How often maintenance runs: leak scan, expiry, replenish, sizing
    /// check (1 s; 1 ms to 1 h).
    #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
    pub maintenance_interval: Duration,
    /// Idle objects above `min_size` older than this are destroyed (off).
    #[serde(
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_idle_time: Option<Duration>,
    /// Objects older than this are replaced (off).
    #[serde(
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_lifetime: Option<Duration>,
    /// A hold longer than this is reported as a leak (off).
    #[serde(
        deserialize_with = "de_opt_duration",
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub leak_threshold: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            min_size: 4,
            max_size: 16,
            acquire_timeout: Duration::from_secs(30),
            sizing: Sizing::Utilization,
            target_utilization: 0.75,
            contention_threshold: None,
            sizing_interval: Duration::from_secs(15),
            maintenance_interval: Duration::from_secs(1),
            max_idle_time: None,
            max_lifetime: None,
            leak_threshold: None,
        }
    }
}

/// The sizing policy a [`PoolSettings`] names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sizing {
    /// [`UtilizationPolicy`]: the target follows the load.
    #[default]
    Utilization,
    /// [`FixedPolicy`]: the target is `max_size`.
    Fixed,
}

impl Sizing {
    /// The policy as written in a file: `utilization` or `fixed`.
    pub fn name(self) -> &'static str {
        match self {
            Sizing::Utilization => "utilization",
            Sizing::Fixed => "fixed",
        }
    }
}

impl PoolSettings {
    /// The sizing policy these settings name: a [`UtilizationPolicy`] with
    /// `target_utilization` and `contention_threshold`, or [`FixedPolicy`].
    pub fn sizing_policy(&self) -> Box<dyn SizingPolicy> {
        match self.sizing {
            Sizing::Utilization => Box::new(UtilizationPolicy {
                target_utilization: self.target_utilization,
                contention_threshold: self.contention_threshold,
            }),
            Sizing::Fixed => Box::new(FixedPolicy),
        }
    }

    /// Applies every setting to `builder` (the factory, clock and hooks
    /// stay the caller's).
    ///
    /// ```
    /// use tidepool::pool::{Pool, PoolSettings};
    /// let settings = PoolSettings { max_size: 32, ..PoolSettings::default() };
    /// let pool = settings.configure(Pool::builder("db")).factory(|| Ok(0u8)).build().unwrap();
    /// assert_eq!(pool.status().max, 32);
    /// ```
    pub fn configure<T: Send + 'static>(&self, builder: super::PoolBuilder<T>) -> super::PoolBuilder<T> {
        builder.settings(self)
    }

    /// Checks every range and the sizes against each other: what
    /// [`PoolBuilder::build`](super::PoolBuilder::build) refuses.
    ///
    /// ```
    /// use tidepool::pool::PoolSettings;
    /// assert!(PoolSettings::default().validate().is_ok());
    /// let bad = PoolSettings { min_size: 0, ..PoolSettings::default() };
    /// assert_eq!(bad.validate().unwrap_err().setting(), Some("min_size"));
    /// let bad = PoolSettings { min_size: 9, max_size: 4, ..PoolSettings::default() };
    /// assert_eq!(bad.validate().unwrap_err().setting(), Some("max_size"));
    /// ```
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidSize`], [`BuildError::InvalidDuration`] or
    /// [`BuildError::InvalidRatio`], naming the setting.
    pub fn validate(&self) -> Result<(), BuildError> {
        if self.min_size < 1 || self.min_size > self.max_size || self.max_size > MAX_POOL_SIZE {
            return Err(BuildError::InvalidSize {
                min: self.min_size,
                max: self.max_size,
                cap: MAX_POOL_SIZE,
            });
        }
        let check = |field: &'static str, value: Duration, min: Duration, max: Duration| {
            if value < min || value > max {
                Err(BuildError::InvalidDuration { field, value, min, max })
            } else {
                Ok(())
            }
        };
        check("acquire_timeout", self.acquire_timeout, MS, DAY)?;
        check("sizing_interval", self.sizing_interval, MS, DAY)?;
        check("maintenance_interval", self.maintenance_interval, MS, Duration::from_secs(3600))?;
        for (field, value) in [
            ("max_idle_time", self.max_idle_time),
            ("max_lifetime", self.max_lifetime),
            ("leak_threshold", self.leak_threshold),
        ] {
            if let Some(v) = value {
                check(field, v, MS, YEAR)?;
            }
        }
        if let Some(v) = self.contention_threshold {
            check("contention_threshold", v, Duration::from_micros(1), Duration::from_secs(3600))?;
        }
        let ratio = self.target_utilization;
        if !(ratio.is_finite() && ratio > 0.0 && ratio <= 1.0) {
            return Err(BuildError::InvalidRatio { field: "target_utilization", value: ratio });
        }
        Ok(())
    }

    /// One line for people: `min_size 4, max_size 16, acquire_timeout 30s,
    /// utilization sizing (target 0.75, waits count above 1 % waited, every
    /// 15s), maintenance every 1s, max_idle_time off, ...`.
    pub fn summary(&self) -> String {
        use crate::units::fmt_duration;
        let sizing = match self.sizing {
            Sizing::Utilization => format!(
                "utilization sizing (target {}, {}, every {})",
                self.target_utilization,
                match self.contention_threshold {
                    Some(t) => format!("contended above a mean wait of {}", fmt_duration(t)),
                    None => "contended when over 1 % of acquires wait".into(),
                },
                fmt_duration(self.sizing_interval)
            ),
            Sizing::Fixed => "fixed sizing (target = max_size)".into(),
        };
        let opt = |d: Option<Duration>| d.map_or_else(|| "off".to_string(), fmt_duration);
        format!(
            "min_size {}, max_size {}, acquire_timeout {}, {sizing}, maintenance every {}, max_idle_time {}, max_lifetime {}, leak_threshold {}",
            self.min_size,
            self.max_size,
            fmt_duration(self.acquire_timeout),
            fmt_duration(self.maintenance_interval),
            opt(self.max_idle_time),
            opt(self.max_lifetime),
            opt(self.leak_threshold),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_builders() {
        let builder = super::super::Pool::<u8>::builder("p");
        assert_eq!(builder.settings, PoolSettings::default());
    }

    #[test]
    fn serialized_settings_read_back() {
        let settings = PoolSettings {
            contention_threshold: Some(Duration::from_millis(3)),
            max_idle_time: Some(Duration::from_secs(300)),
            sizing: Sizing::Fixed,
            ..PoolSettings::default()
        };
        let text = toml::to_string(&settings).expect("serializes");
        assert_eq!(toml::from_str::<PoolSettings>(&text).expect("reads back"), settings);
    }
}
