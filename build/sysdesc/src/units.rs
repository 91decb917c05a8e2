//! Sizes and times with units, as a description writes them: `"16KiB"`,
//! `"500us"`, `"10ms"`, and a backoff range `"10ms..1s"`.
//!
//! Only whole numbers and binary size units: `"1.5ms"` and `"16KB"` are
//! refused with the spelling to use instead, since a size that might mean
//! 16,000 or 16,384 bytes has no place in a file that sets memory quotas.

use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::str::FromStr;

/// A size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

/// A length of time in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub u64);

/// A restart backoff: the first wait and the longest one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

const SIZE_UNITS: [(&str, u64); 5] = [
    ("B", 1),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

const TIME_UNITS: [(&str, u64); 5] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
];

/// Split `"16 KiB"` into 16 and `"KiB"`; `what` names the kind of value in
/// messages.
fn split(text: &str, what: &str, example: &str) -> Result<(u64, String), String> {
    let t = text.trim();
    let digits_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(format!(
            "`{text}` is not a {what}: write a whole number and a unit, like \"{example}\""
        ));
    }
    if unit.starts_with('.') {
        return Err(format!(
            "`{text}`: write a whole number of a smaller unit instead of a fraction (like \"{example}\")"
        ));
    }
    let n = number
        .replace('_', "")
        .parse::<u64>()
        .map_err(|_| format!("`{text}` is too large a {what}"))?;
    Ok((n, unit.to_string()))
}

fn scale(text: &str, n: u64, unit: &str, units: &[(&str, u64)], what: &str) -> Result<u64, String> {
    let Some(&(_, factor)) = units.iter().find(|(u, _)| *u == unit) else {
        let names: Vec<&str> = units.iter().map(|(u, _)| *u).collect();
        let hint = match unit.to_ascii_lowercase().as_str() {
            "" => format!("add a unit: {}", names.join(", ")),
            "k" | "kb" => "`KB` could mean 1000 or 1024: write KiB (1024 bytes)".into(),
            "m" | "mb" => "`MB` could mean 10^6 or 2^20: write MiB".into(),
            "g" | "gb" => "`GB` could mean 10^9 or 2^30: write GiB".into(),
            "kib" | "mib" | "gib" | "tib" | "b" => {
                let want = names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(unit))
                    .unwrap_or(&"KiB");
                format!("write `{want}`")
            }
            "sec" | "secs" | "second" | "seconds" => "write `s`".into(),
            "msec" | "millis" => "write `ms`".into(),
            "usec" | "micros" => "write `us`".into(),
            _ => format!("the units are {}", names.join(", ")),
        };
        return Err(format!("`{text}`: unknown {what} unit `{unit}`; {hint}"));
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too large a {what}"))
}

impl FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (n, unit) = split(text, "size", "16KiB")?;
        scale(text, n, &unit, &SIZE_UNITS, "size").map(Size)
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (n, unit) = split(text, "time", "500us")?;
        scale(text, n, &unit, &TIME_UNITS, "time").map(Duration)
    }
}

impl FromStr for Backoff {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((min, max)) = text.split_once("..") else {
            return Err(format!(
                "`{text}` is not a backoff: write the first wait and the longest, like \"10ms..1s\""
            ));
        };
        Ok(Backoff {
            min: min.parse()?,
            max: max.parse()?,
        })
    }
}

/// The largest unit that shows `v` exactly.
fn show(f: &mut fmt::Formatter<'_>, v: u64, units: &[(&str, u64)]) -> fmt::Result {
    let (unit, factor) = units
        .iter()
        .rev()
        .find(|(_, factor)| v.is_multiple_of(*factor) && (v > 0 || *factor == 1))
        .copied()
        .unwrap_or(units[0]);
    write!(f, "{}{unit}", v / factor)
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        show(f, self.0, &SIZE_UNITS)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0ms");
        }
        let units: Vec<(&str, u64)> = TIME_UNITS
            .iter()
            .copied()
            .filter(|(u, _)| *u != "µs")
            .collect();
        show(f, self.0, &units)
    }
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.min, self.max)
    }
}

/// Deserialize any of the above from a string, refusing bare numbers with
/// the reason.
fn from_text<'de, D, T>(d: D, what: &'static str, example: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    struct V<T>(&'static str, &'static str, std::marker::PhantomData<T>);
    impl<T: FromStr<Err = String>> de::Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} with a unit, like \"{}\"", self.0, self.1)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            Err(E::custom(format!(
                "a {} needs a unit: write it as a string, like \"{}\" (not {v})",
                self.0, self.1
            )))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            Err(E::custom(format!(
                "a {} needs a unit: write it as a string, like \"{}\" (not {v})",
                self.0, self.1
            )))
        }
    }
    d.deserialize_any(V(what, example, std::marker::PhantomData))
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, "size", "16KiB")
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, "time", "10ms")
    }
}

impl<'de> Deserialize<'de> for Backoff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        from_text(d, "backoff", "10ms..1s")
    }
}

/// `bytes` as the description would write it.
pub fn size(bytes: u64) -> String {
    Size(bytes).to_string()
}

/// `bytes` to one decimal in the largest unit it reaches (`300.1MiB`), for
/// totals that no one wrote.
pub fn approx(bytes: u64) -> String {
    let Some(&(unit, factor)) = SIZE_UNITS.iter().rev().find(|(_, f)| bytes >= *f) else {
        return "0B".into();
    };
    if bytes.is_multiple_of(factor) {
        return format!("{}{unit}", bytes / factor);
    }
    let tenths = (u128::from(bytes) * 10 + u128::from(factor) / 2) / u128::from(factor);
    format!("{}.{}{unit}", tenths / 10, tenths % 10)
}

/// `ns` as the description would write it.
pub fn time(ns: u64) -> String {
    Duration(ns).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!("16KiB".parse::<Size>(), Ok(Size(16384)));
        assert_eq!("16 KiB".parse::<Size>(), Ok(Size(16384)));
        assert_eq!("1_024B".parse::<Size>(), Ok(Size(1024)));
        assert_eq!("256MiB".parse::<Size>(), Ok(Size(256 << 20)));
        let err = "16KB".parse::<Size>().unwrap_err();
        assert!(err.contains("write KiB"), "{err}");
        let err = "16kib".parse::<Size>().unwrap_err();
        assert!(err.contains("write `KiB`"), "{err}");
        let err = "4096".parse::<Size>().unwrap_err();
        assert!(err.contains("add a unit"), "{err}");
        let err = "1.5MiB".parse::<Size>().unwrap_err();
        assert!(err.contains("fraction"), "{err}");
        let err = "KiB".parse::<Size>().unwrap_err();
        assert!(err.contains("whole number"), "{err}");
        let err = "99999999999TiB".parse::<Size>().unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn times() {
        assert_eq!("500us".parse::<Duration>(), Ok(Duration(500_000)));
        assert_eq!("500µs".parse::<Duration>(), Ok(Duration(500_000)));
        assert_eq!("10ms".parse::<Duration>(), Ok(Duration(10_000_000)));
        assert_eq!("1s".parse::<Duration>(), Ok(Duration(1_000_000_000)));
        let err = "1sec".parse::<Duration>().unwrap_err();
        assert!(err.contains("write `s`"), "{err}");
        let err = "1.5ms".parse::<Duration>().unwrap_err();
        assert!(err.contains("fraction"), "{err}");
    }

    #[test]
    fn backoffs() {
        let b: Backoff = "10ms..1s".parse().unwrap();
        assert_eq!(b.min, Duration(10_000_000));
        assert_eq!(b.max, Duration(1_000_000_000));
        assert!("10ms".parse::<Backoff>().is_err());
        assert_eq!(b.to_string(), "10ms..1s");
    }

    #[test]
    fn shown_in_the_largest_exact_unit() {
        assert_eq!(size(16384), "16KiB");
        assert_eq!(size(1536 << 10), "1536KiB");
        assert_eq!(size(0), "0B");
        assert_eq!(size(100), "100B");
        assert_eq!(approx(307_336 << 10), "300.1MiB");
        assert_eq!(approx(256 << 20), "256MiB");
        assert_eq!(approx(0), "0B");
        assert_eq!(time(10_000_000), "10ms");
        assert_eq!(time(1_500_000), "1500us");
        assert_eq!(time(0), "0ms");
        assert_eq!(time(2_000_000_000), "2s");
    }
}
