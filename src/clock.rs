//! The time a command acts at. Normally the system clock; `SESSIONS_NOW` (an RFC 3339 time)
//! pins it, so tests and documented examples print the same ages and write the same
//! timestamps on every run. Only the command layer asks for it, once per command: the domain
//! takes the time as an argument and never reads a clock of its own for what it writes into a
//! session file. Background processes (supervisors, timers) keep the real clock, since they
//! measure time that really passes.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// The variable that pins the clock.
pub const VAR: &str = "SESSIONS_NOW";

/// Now, or the time `SESSIONS_NOW` pins.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var_os(VAR) {
        None => Ok(Utc::now()),
        Some(v) if v.is_empty() => Ok(Utc::now()),
        Some(v) => parse(&v.to_string_lossy()),
    }
}

fn parse(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            Error::Usage(format!(
                "{VAR}=`{text}` is not an RFC 3339 time (e.g. 2026-01-02T03:04:05Z); fix it or unset it to use the system clock"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_in_any_offset() {
        let t = parse("2026-01-02T05:04:05+02:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    }

    #[test]
    fn a_bad_value_says_what_to_do() {
        let e = parse("yesterday").unwrap_err().to_string();
        assert!(
            e.contains("SESSIONS_NOW=`yesterday`") && e.contains("unset it"),
            "{e}"
        );
    }
}
