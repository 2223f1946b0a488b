//! Serde adapters shared by every settings file (the agent configuration,
//! workload files): durations written `"250ms"` or as seconds, sizes written
//! `"64KiB"` or as bytes, checked numbers, and [`Split`], one TOML table
//! read into two structs.
//!
//! Every adapter refuses what it cannot take with a message that says what
//! is accepted; the TOML reader puts the file, line and column in front.

// Some helpers serve only workload files (feature `sim`).
#![cfg_attr(not(feature = "sim"), allow(dead_code))]

use std::time::Duration;

use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::units::{duration_from_seconds, fmt_duration, parse_bytes, parse_duration};

pub(crate) fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&fmt_duration(*d))
}

pub(crate) fn ser_opt_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&fmt_duration(*d)),
        None => s.serialize_none(),
    }
}

/// A duration written as a string (`"1h30m"`, `"250ms"`), or a number of seconds.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Text(String),
    Seconds(f64),
}

/// A duration, zero allowed.
pub(crate) fn de_duration_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match RawDuration::deserialize(d)? {
        RawDuration::Text(text) => parse_duration(&text),
        RawDuration::Seconds(secs) => duration_from_seconds(secs),
    }
    .map_err(D::Error::custom)
}

/// A duration above zero.
pub(crate) fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = de_duration_or_zero(d)?;
    if value.is_zero() {
        return Err(D::Error::custom("must be greater than zero"));
    }
    Ok(value)
}

/// A duration above zero, for an optional key.
pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_duration(d).map(Some)
}

/// `x` when it is finite and `ok`, else an error saying `want`.
pub(crate) fn check_f64<E: serde::de::Error>(x: f64, ok: bool, want: &str) -> Result<f64, E> {
    if x.is_finite() && ok {
        Ok(x)
    } else {
        Err(E::custom(format!("{x} is out of range: need {want}")))
    }
}

/// A number, integer or float.
pub(crate) fn de_number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        I(i64),
        F(f64),
    }
    Ok(match Num::deserialize(d)? {
        Num::I(i) => i as f64,
        Num::F(f) => f,
    })
}

pub(crate) fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_number(d)?;
    check_f64(x, x > 0.0, "a number > 0")
}

pub(crate) fn de_opt_positive<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    de_positive(d).map(Some)
}

pub(crate) fn de_nonneg<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_number(d)?;
    check_f64(x, x >= 0.0, "a number >= 0")
}

pub(crate) fn de_probability<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_number(d)?;
    check_f64(x, (0.0..=1.0).contains(&x), "a probability, 0 <= p <= 1")
}

pub(crate) fn de_opt_probability<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    de_probability(d).map(Some)
}

/// A fraction in `(0, 1]`.
pub(crate) fn de_fraction_open<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = de_number(d)?;
    check_f64(x, x > 0.0 && x <= 1.0, "a fraction, 0 < x <= 1")
}

/// Bytes: a number, or a string with a unit (`B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`, `GB`).
pub(crate) fn de_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a size: a whole number of bytes or a string like \"64KiB\" or \"16MiB\"")]
    enum RawBytes {
        N(i64),
        F(f64),
        S(String),
    }
    match RawBytes::deserialize(d)? {
        RawBytes::N(n) => {
            u64::try_from(n).map_err(|_| D::Error::custom(format!("{n} bytes: must not be negative")))
        }
        RawBytes::F(f) => Err(D::Error::custom(format!(
            "{f} bytes: a size is a whole number of bytes, or a string like \"1.5MiB\""
        ))),
        RawBytes::S(s) => parse_bytes(&s).map_err(D::Error::custom),
    }
}

pub(crate) fn de_opt_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_bytes(d).map(Some)
}

/// One TOML table read into two structs: each key goes to the one of `A`
/// and `B` that knows it (`A` first), with its own adapters, aliases and
/// defaults; a key neither knows is an error listing both key sets.
///
/// This is how a workload's `[pool]` is the agent's `[pool]`
/// ([`crate::pool::PoolSettings`]) plus the workload's object model beside
/// it, without a copy of the settings. Each value is checked by the struct
/// it belongs to while the reader is at it, so errors keep the value's line
/// and column (serde's `flatten` loses both, and lets unknown keys through).
///
/// `A` and `B` must deserialize from a table whose keys are all optional
/// (`#[serde(default, deny_unknown_fields)]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Split<A, B> {
    #[serde(flatten)]
    pub first: A,
    #[serde(flatten)]
    pub second: B,
}

impl<'de, A: DeserializeOwned, B: DeserializeOwned> Deserialize<'de> for Split<A, B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SplitVisitor(std::marker::PhantomData))
    }
}

struct SplitVisitor<A, B>(std::marker::PhantomData<(A, B)>);

impl<'de, A: DeserializeOwned, B: DeserializeOwned> Visitor<'de> for SplitVisitor<A, B> {
    type Value = Split<A, B>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let (mut a, mut b) = (toml::Table::new(), toml::Table::new());
        while let Some(key) = map.next_key::<String>()? {
            map.next_value_seed(SplitEntry::<A, B> {
                key: &key,
                a: &mut a,
                b: &mut b,
                types: std::marker::PhantomData,
            })?;
        }
        let a = A::deserialize(toml::Value::Table(a)).map_err(|e| M::Error::custom(e.message()))?;
        let b = B::deserialize(toml::Value::Table(b)).map_err(|e| M::Error::custom(e.message()))?;
        Ok(Split { first: a, second: b })
    }
}

/// One key's value, checked by the struct that takes it.
struct SplitEntry<'a, A, B> {
    key: &'a str,
    a: &'a mut toml::Table,
    b: &'a mut toml::Table,
    types: std::marker::PhantomData<(A, B)>,
}

impl<'de, A: DeserializeOwned, B: DeserializeOwned> DeserializeSeed<'de> for SplitEntry<'_, A, B> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let value = toml::Value::deserialize(d)?;
        let alone = toml::Value::Table(toml::Table::from_iter([(self.key.to_string(), value.clone())]));
        let unknown = |e: &toml::de::Error| e.message().starts_with("unknown field");
        let for_a = match A::deserialize(alone.clone()) {
            Ok(_) => {
                self.a.insert(self.key.to_string(), value);
                return Ok(());
            }
            Err(e) if unknown(&e) => e,
            Err(e) => return Err(D::Error::custom(e.message())),
        };
        match B::deserialize(alone) {
            Ok(_) => {
                self.b.insert(self.key.to_string(), value);
                Ok(())
            }
            Err(e) if unknown(&e) => {
                // Both say "unknown field `k`, expected one of ...": one list.
                let expected = |m: &str| {
                    m.split_once(", expected ")
                        .map(|(_, rest)| rest.trim_start_matches("one of ").to_string())
                };
                let keys: Vec<String> =
                    [for_a.message(), e.message()].iter().filter_map(|m| expected(m)).collect();
                Err(D::Error::custom(format!(
                    "unknown field `{}`, expected one of {}",
                    self.key,
                    keys.join(", ")
                )))
            }
            Err(e) => Err(D::Error::custom(e.message())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
    #[serde(default, deny_unknown_fields)]
    struct Sizes {
        #[serde(alias = "min")]
        min_size: usize,
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        every: Duration,
    }

    #[derive(Debug, Default, PartialEq, Deserialize, Serialize)]
    #[serde(default, deny_unknown_fields)]
    struct Model {
        #[serde(deserialize_with = "de_bytes")]
        object_bytes: u64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        pool: Split<Sizes, Model>,
    }

    fn error(text: &str) -> (String, usize) {
        let e = toml::from_str::<File>(text).expect_err(text);
        let line = text[..e.span().expect("span").start].matches('\n').count() + 1;
        (e.message().to_string(), line)
    }

    #[test]
    fn keys_go_where_they_belong_and_errors_keep_their_line() {
        let file: File =
            toml::from_str("[pool]\nmin = 3\nobject_bytes = \"1KiB\"\nevery = \"2s\"\n").expect("parses");
        assert_eq!(file.pool.first, Sizes { min_size: 3, every: Duration::from_secs(2) });
        assert_eq!(file.pool.second.object_bytes, 1024);
        assert_eq!(
            error("[pool]\nmin = 3\nevery = \"soon\"\n"),
            (
                "`soon` is not a duration (expected number at 0); write e.g. \"250ms\", \"30s\", \"1h30m\""
                    .into(),
                3
            )
        );
        let (message, line) = error("[pool]\n\nobject_bytes = -4\n");
        assert_eq!((message.as_str(), line), ("-4 bytes: must not be negative", 3));
        let (message, line) = error("[pool]\nmin = 1\nbogus = 1\n");
        assert_eq!(line, 3);
        assert_eq!(
            message,
            "unknown field `bogus`, expected one of `min`, `min_size`, `every`, `object_bytes`"
        );
    }

    #[test]
    fn a_split_table_serializes_flat() {
        let split = Split {
            first: Sizes { min_size: 2, every: Duration::from_millis(5) },
            second: Model { object_bytes: 7 },
        };
        let text = toml::to_string(&split).expect("serializes");
        assert_eq!(text, "min_size = 2\nevery = \"5ms\"\nobject_bytes = 7\n");
    }
}
