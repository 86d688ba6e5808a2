//! Parsers for sizes (`64KiB`), durations (`5m`) and rates (`30/hour`) in rule files;
//! durations (also a rate's window) take humantime's grammar, as `keyward.yaml` does.

use std::time::Duration;

/// Parses `65536`, `64KiB`, `1MiB`, `10KB`, `2 MB`, `1GiB` (case-insensitive units).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size `{text}` (e.g. 65536, 64KiB, 1MiB)"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "kib" | "k" => 1024,
        "mb" => 1000 * 1000,
        "mib" | "m" => 1024 * 1024,
        "gb" => 1000 * 1000 * 1000,
        "gib" | "g" => 1024 * 1024 * 1024,
        _ => {
            return Err(format!(
                "invalid size unit in `{text}` (use B, KiB, MiB, GiB, KB, MB, GB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size `{text}` is too large"))
}

/// Parses a duration in [humantime]'s grammar, the one `keyward.yaml` uses: `500ms`, `30s`,
/// `5m`, `2h`, `1d`, `1h 30m`, `1.5h`, `2weeks`. A bare number has no unit and is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    humantime::parse_duration(text)
        .map_err(|e| format!("invalid duration `{text}`: {e} (e.g. 30s, 5m, 2h, 1d)"))
}

/// Longest rate window: one year (humantime's `1y`, 365.25 days). It bounds the counters'
/// arithmetic (a window times a burst) far below overflow.
const MAX_WINDOW: Duration = Duration::from_secs(31_557_600);

/// Parses `N/WINDOW`: a count and a duration, where a window without a number means one of
/// its unit. `30/hour`, `30/h`, `5/second`, `100/minute`, `1000/day`, `10/15m`, `1/1h 30m`.
pub fn parse_rate(text: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate `{text}` (e.g. 30/hour, 5/second, 100/minute, 1000/day)");
    let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(format!(
            "rate `{text}` allows nothing; use `decision: deny` instead"
        ));
    }
    Ok((count, parse_window("rate", text, unit)?))
}

/// A rate's window: a duration, or a unit alone meaning one of it; `what` and `text` (the
/// whole rate) are for the message.
fn parse_window(what: &str, text: &str, unit: &str) -> Result<Duration, String> {
    let unit = unit.trim();
    let window = if unit.starts_with(|c: char| c.is_alphabetic()) {
        humantime::parse_duration(&format!("1{unit}"))
    } else {
        humantime::parse_duration(unit)
    }
    .map_err(|e| {
        format!("invalid {what} `{text}`: {e} (e.g. 30/hour, 5/second, 100/minute, 1000/day)")
    })?;
    if window.is_zero() || window > MAX_WINDOW {
        return Err(format!(
            "invalid {what} `{text}`: the window must be longer than zero and at most a year"
        ));
    }
    Ok(window)
}

/// Most tokens a budget may name: far beyond any provider's usage, and small enough that
/// a budget's arithmetic in nanoseconds cannot overflow.
const MAX_TOKENS: u64 = 1_000_000_000_000;

/// Parses a token budget `N/WINDOW`, where N takes a decimal suffix `k` (thousand), `M`
/// (million) or `G` (billion): `2M/day`, `100k/hour`, `50000/15m`.
pub fn parse_token_budget(text: &str) -> Result<(u64, Duration), String> {
    let bad = || format!("invalid token budget `{text}` (e.g. 2M/day, 100k/hour, 50000/15m)");
    let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let count = count.trim();
    let (digits, multiplier) = match count.char_indices().last() {
        Some((i, 'k' | 'K')) => (&count[..i], 1_000),
        Some((i, 'm' | 'M')) => (&count[..i], 1_000_000),
        Some((i, 'g' | 'G')) => (&count[..i], 1_000_000_000),
        _ => (count, 1),
    };
    let tokens = digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(bad)?;
    if tokens == 0 {
        return Err(format!(
            "token budget `{text}` allows nothing; use `decision: deny` instead"
        ));
    }
    if tokens > MAX_TOKENS {
        return Err(format!(
            "token budget `{text}` is over the {MAX_TOKENS}-token limit"
        ));
    }
    Ok((tokens, parse_window("token budget", text, unit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_budgets() {
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_token_budget("2M/day").unwrap(), (2_000_000, day));
        assert_eq!(
            parse_token_budget("100k/hour").unwrap(),
            (100_000, Duration::from_secs(3600))
        );
        assert_eq!(
            parse_token_budget(" 50000 / 15m ").unwrap(),
            (50_000, Duration::from_secs(900))
        );
        assert_eq!(parse_token_budget("1G/week").unwrap().0, 1_000_000_000);
        for bad in [
            "lots",
            "2M",
            "2M/fortnight",
            "0/day",
            "M/day",
            "1.5M/day",
            "-3/day",
        ] {
            assert!(parse_token_budget(bad).is_err(), "{bad}");
        }
        assert!(
            parse_token_budget("lots")
                .unwrap_err()
                .starts_with("invalid token budget `lots`")
        );
        assert!(
            parse_token_budget("2000G/day")
                .unwrap_err()
                .contains("limit")
        );
        assert!(
            parse_token_budget("0k/day")
                .unwrap_err()
                .contains("allows nothing")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("1 MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("10kb").unwrap(), 10_000);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("KiB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    /// Every duration the hand-written grammar accepted before rule files used humantime
    /// still parses to the same value.
    #[test]
    fn durations_accepted_before_keep_their_values() {
        let cases: &[(&str, Duration)] = &[
            ("0s", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("15m", Duration::from_secs(900)),
            ("30m", Duration::from_secs(1800)),
            ("2h", Duration::from_secs(7200)),
            ("1d", Duration::from_secs(86_400)),
            (" 2s ", Duration::from_secs(2)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).unwrap(), *want, "{text}");
        }
    }

    #[test]
    fn durations_take_the_config_grammar() {
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration("2weeks").unwrap(),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(parse_duration("10sec").unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn rates() {
        assert_eq!(
            parse_rate("30/hour").unwrap(),
            (30, Duration::from_secs(3600))
        );
        assert_eq!(parse_rate("5/s").unwrap(), (5, Duration::from_secs(1)));
        assert!(parse_rate("30 per hour").is_err());
        assert!(parse_rate("0/hour").is_err());
        assert!(parse_rate("30/fortnight").is_err());
        assert!(parse_rate("30/0s").is_err());
        assert!(parse_rate("30/2y").is_err());
        assert!(parse_rate("30/").is_err());
        assert!(parse_rate("30/.5h").is_err());
    }

    /// Every window the hand-written grammar accepted before is still accepted alike.
    #[test]
    fn rate_windows_accepted_before_keep_their_values() {
        let cases: &[(&str, u64)] = &[
            ("s", 1),
            ("sec", 1),
            ("second", 1),
            ("m", 60),
            ("min", 60),
            ("minute", 60),
            ("h", 3600),
            ("hour", 3600),
            ("d", 86_400),
            ("day", 86_400),
        ];
        for (unit, secs) in cases {
            let text = format!("3/{unit}");
            assert_eq!(
                parse_rate(&text).unwrap(),
                (3, Duration::from_secs(*secs)),
                "{text}"
            );
        }
        assert_eq!(
            parse_rate(" 30 / hour ").unwrap(),
            (30, Duration::from_secs(3600))
        );
    }

    #[test]
    fn rate_windows_are_durations() {
        assert_eq!(
            parse_rate("10/15m").unwrap(),
            (10, Duration::from_secs(900))
        );
        assert_eq!(
            parse_rate("1/1h 30m").unwrap(),
            (1, Duration::from_secs(5400))
        );
        assert_eq!(
            parse_rate("5/500ms").unwrap(),
            (5, Duration::from_millis(500))
        );
        assert_eq!(
            parse_rate("100/week").unwrap(),
            (100, Duration::from_secs(604_800))
        );
        assert_eq!(parse_rate("1/year").unwrap(), (1, MAX_WINDOW));
    }
}
