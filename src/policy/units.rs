//! Parsers for sizes (`64KiB`), durations (`5m`) and rates (`30/hour`) in rule files.

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

/// Parses `500ms`, `30s`, `5m`, `2h`, `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let bad = || format!("invalid duration `{text}` (e.g. 30s, 5m, 2h, 1d)");
    let number: u64 = digits.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(number)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// Parses `30/hour` (also `30/h`, `5/second`, `100/minute`, `1000/day`) into count and window.
pub fn parse_rate(text: &str) -> Result<(u32, Duration), String> {
    let bad = || format!("invalid rate `{text}` (e.g. 30/hour, 5/second, 100/minute, 1000/day)");
    let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
    let count: u32 = count.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err(format!(
            "rate `{text}` allows nothing; use `decision: deny` instead"
        ));
    }
    let window = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return Err(bad()),
    };
    Ok((count, Duration::from_secs(window)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

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
        assert!(parse_duration("5 weeks").is_err());
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
    }
}
