//! The alert lifecycle: firing, escalation, de-escalation, resolution and
//! suppression, one alert per (kind, subject); and where alerts go.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::anomaly::Severity;
use super::signal::Kind;

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// A new alert, notified.
    Firing,
    /// A new alert within its (kind, severity) cooldown: tracked, not
    /// notified.
    Suppressed,
    /// Raised to a higher severity (always notified).
    Escalated,
    /// Lowered to a lower, non-zero severity.
    DeEscalated,
    /// The condition cleared.
    Resolved,
}

impl AlertState {
    /// Whether sinks (Alertmanager) hear of it.
    pub fn notifies(self) -> bool {
        !matches!(self, AlertState::Suppressed)
    }
}

/// One line of `alerts.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Seconds on the monitor's time axis (run time in a soak).
    pub at: f64,
    /// What is measured.
    pub kind: Kind,
    /// Which pool, lock or process.
    pub subject: String,
    /// What happened.
    pub state: AlertState,
    /// The severity after the event (`none` once resolved).
    pub severity: Severity,
    /// The severity before it.
    pub previous: Severity,
    /// The value that decided it; for predicted kinds
    /// ([`Kind::is_predicted`]) the pessimistic forecast seconds to
    /// exhaustion (infinite, written `null`, when nothing is forecast).
    #[serde(deserialize_with = "null_is_infinite")]
    pub value: f64,
    /// The adaptive baseline's expected value then; for predicted kinds the
    /// horizon, seconds.
    pub expected: f64,
    /// The sentence a person reads.
    pub summary: String,
}

/// `null` (how JSON writes an infinite number) reads back as +∞.
fn null_is_infinite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Where notified alert events go (Alertmanager, a log). Suppressed events
/// are not delivered.
pub trait AlertSink: Send {
    /// Delivers one event; failures are the sink's to report (a monitor
    /// never stops for a sink).
    fn deliver(&mut self, event: &AlertEvent);
}

/// One episode of an alert, from firing to resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// What was measured.
    pub kind: Kind,
    /// Which pool, lock or process.
    pub subject: String,
    /// The highest severity reached.
    pub peak: Severity,
    /// When it started, seconds.
    pub started: f64,
    /// When it resolved (`None`: still active at the end).
    pub resolved: Option<f64>,
    /// Whether it was notified (false: suppressed and never escalated).
    pub notified: bool,
    /// The worst value seen (for predicted kinds the shortest forecast
    /// time to exhaustion, seconds).
    pub worst_value: f64,
    /// The severity now (while active).
    #[serde(skip)]
    pub(crate) current: Severity,
}

/// Cooldowns per severity, seconds: a new alert of a (kind, severity) that
/// fired less than this ago is suppressed. Emergency is never suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cooldowns {
    /// Warning (120 s).
    pub warning: f64,
    /// Critical (60 s).
    pub critical: f64,
}

impl Default for Cooldowns {
    fn default() -> Self {
        Cooldowns { warning: 120.0, critical: 60.0 }
    }
}

impl Cooldowns {
    fn of(&self, severity: Severity) -> f64 {
        match severity {
            Severity::Warning => self.warning,
            Severity::Critical => self.critical,
            Severity::Emergency | Severity::None => 0.0,
        }
    }
}

/// The lifecycle of every alert.
#[derive(Debug, Default)]
pub(crate) struct AlertBook {
    cooldowns: Cooldowns,
    /// Active alerts: (kind, subject) → index into `episodes`.
    active: BTreeMap<(Kind, String), usize>,
    /// When each (kind, severity) was last notified.
    last_notified: BTreeMap<(Kind, Severity), f64>,
    pub(crate) episodes: Vec<Episode>,
}

impl AlertBook {
    pub(crate) fn new(cooldowns: Cooldowns) -> AlertBook {
        AlertBook { cooldowns, ..AlertBook::default() }
    }

    /// The current severity of (kind, subject).
    pub(crate) fn severity(&self, kind: Kind, subject: &str) -> Severity {
        self.active
            .get(&(kind, subject.to_string()))
            .and_then(|&i| self.episodes.get(i))
            .map_or(Severity::None, |e| e.current)
    }

    /// Active alerts, by (kind, severity).
    pub(crate) fn active_counts(&self) -> BTreeMap<(Kind, Severity), u64> {
        let mut out = BTreeMap::new();
        for &i in self.active.values() {
            if let Some(e) = self.episodes.get(i) {
                *out.entry((e.kind, e.current)).or_insert(0) += 1;
            }
        }
        out
    }

    /// Moves (kind, subject) to `severity`; returns the event, if any.
    pub(crate) fn transition(
        &mut self,
        at: f64,
        kind: Kind,
        subject: &str,
        severity: Severity,
        value: f64,
        expected: f64,
    ) -> Option<AlertEvent> {
        let key = (kind, subject.to_string());
        let previous = self.severity(kind, subject);
        if let Some(&i) = self.active.get(&key) {
            if let Some(e) = self.episodes.get_mut(i) {
                // A forecast is worse the sooner it is.
                let worse = if kind.is_predicted() { value < e.worst_value } else { value > e.worst_value };
                if worse {
                    e.worst_value = value;
                }
            }
        }
        if severity == previous {
            return None;
        }
        let state = if previous == Severity::None {
            let since = self.last_notified.get(&(kind, severity)).map_or(f64::INFINITY, |&t| at - t);
            let suppressed = severity != Severity::Emergency && since < self.cooldowns.of(severity);
            let i = self.episodes.len();
            self.episodes.push(Episode {
                kind,
                subject: subject.to_string(),
                peak: severity,
                started: at,
                resolved: None,
                notified: !suppressed,
                worst_value: value,
                current: severity,
            });
            self.active.insert(key.clone(), i);
            if suppressed {
                AlertState::Suppressed
            } else {
                AlertState::Firing
            }
        } else if severity == Severity::None {
            if let Some(i) = self.active.remove(&key) {
                if let Some(e) = self.episodes.get_mut(i) {
                    e.resolved = Some(at);
                }
            }
            AlertState::Resolved
        } else if severity > previous {
            AlertState::Escalated
        } else {
            AlertState::DeEscalated
        };
        if let Some(&i) = self.active.get(&key) {
            if let Some(e) = self.episodes.get_mut(i) {
                e.current = severity;
                if severity > e.peak {
                    e.peak = severity;
                }
                if state == AlertState::Escalated {
                    e.notified = true;
                }
            }
        }
        if matches!(state, AlertState::Firing | AlertState::Escalated) {
            self.last_notified.insert((kind, severity), at);
        }
        // A resolution of a never-notified episode is not news either.
        let state = match state {
            AlertState::Resolved | AlertState::DeEscalated
                if self
                    .episodes
                    .iter()
                    .rev()
                    .find(|e| e.kind == kind && e.subject == subject)
                    .is_some_and(|e| !e.notified) =>
            {
                AlertState::Suppressed
            }
            s => s,
        };
        let summary = match state {
            _ if kind.is_predicted() && severity == Severity::None && !value.is_finite() => {
                format!("{kind} on {subject} resolved (no exhaustion forecast)")
            }
            _ if kind.is_predicted() && severity == Severity::None => {
                format!("{kind} on {subject} resolved ({})", kind.format(value))
            }
            AlertState::Resolved => format!("{kind} on {subject} resolved ({})", kind.format(value)),
            _ if kind.is_predicted() => format!(
                "{kind} on {subject} is {severity}: {} (horizon {})",
                kind.format(value),
                crate::units::human_seconds(expected)
            ),
            _ => format!(
                "{kind} on {subject} is {severity}: {} (baseline {})",
                kind.format(value),
                kind.format(expected)
            ),
        };
        Some(AlertEvent {
            at,
            kind,
            subject: subject.to_string(),
            state,
            severity,
            previous,
            value,
            expected,
            summary,
        })
    }
}
