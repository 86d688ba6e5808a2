//! UTC timestamps for entries (RFC 3339 with milliseconds) and rotated file names.
//!
//! Both forms are fixed `time` format descriptions rather than the well-known `Rfc3339`,
//! whose fraction has as many digits as the value needs: entries are hashed into the chain
//! as written, so their form must never drift (always three fraction digits and `Z`).

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// An entry's time: `2026-11-25T19:15:00.123Z`.
const ENTRY: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A rotated file's suffix: `20261125T191500.123Z`. Names in this form sort chronologically.
const COMPACT: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:3]Z");

/// The current time as RFC 3339 UTC with milliseconds: `2026-11-25T19:15:00.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339_millis(OffsetDateTime::now_utc())
}

/// `t` (converted to UTC) as RFC 3339 with milliseconds: `2026-11-25T19:15:00.123Z`.
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return format_utc(t, ENTRY);
    }
    // Written digit by digit: every exchange's entry takes one, and the general formatter
    // interprets its description each time. A test checks both forms agree.
    let mut out = String::with_capacity(24);
    let fields: [(u32, u32, char); 7] = [
        (year.unsigned_abs(), 4, '-'),
        (u32::from(u8::from(t.month())), 2, '-'),
        (u32::from(t.day()), 2, 'T'),
        (u32::from(t.hour()), 2, ':'),
        (u32::from(t.minute()), 2, ':'),
        (u32::from(t.second()), 2, '.'),
        (u32::from(t.millisecond()), 3, 'Z'),
    ];
    for (value, width, after) in fields {
        push_digits(&mut out, value, width);
        out.push(after);
    }
    out
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(out: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place)) % 10;
        out.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
}

/// `t` (converted to UTC) in the compact form used for rotated files:
/// `20261125T191500.123Z`. Names in this form sort chronologically.
pub fn compact_millis(t: OffsetDateTime) -> String {
    format_utc(t, COMPACT)
}

/// Whether `s` is a time in the compact form of [`compact_millis`].
pub fn is_compact_millis(s: &str) -> bool {
    PrimitiveDateTime::parse(s, COMPACT).is_ok()
}

/// Formats `t` in UTC. A description made only of numeric components cannot fail for a
/// date `time` holds (years 0–9999; the year is the one component with a range); a year
/// outside it would print in `time`'s own display form rather than stop the log.
fn format_utc(t: OffsetDateTime, description: &[BorrowedFormatItem<'_>]) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.format(description).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_form_equals_the_formatted_one() {
        let mut nanos: i128 = -62_135_596_800_000_000_000; // 0001-01-01
        let step: i128 = 3_155_760_000_123_456_789; // about a century and a bit
        for _ in 0..4_000 {
            let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
                break;
            };
            assert_eq!(rfc3339_millis(t), format_utc(t, ENTRY), "{t}");
            nanos += step / 50 + 7_919;
        }
        let now = OffsetDateTime::now_utc();
        assert_eq!(rfc3339_millis(now), format_utc(now, ENTRY));
    }

    #[test]
    fn formats_are_fixed_width_utc_with_millis() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_634_100_123_456_789).unwrap();
        assert_eq!(rfc3339_millis(t), "2026-11-25T19:15:00.123Z");
        assert_eq!(compact_millis(t), "20261125T191500.123Z");
        let offset = t.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(rfc3339_millis(offset), "2026-11-25T19:15:00.123Z");
    }

    /// Entries are hashed as written: the form is pinned byte for byte, including whole
    /// seconds (`.000`), truncation (not rounding) of the fraction, and padded fields.
    #[test]
    fn entry_time_form_is_pinned() {
        let at =
            |nanos: i128| rfc3339_millis(OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap());
        assert_eq!(at(1_795_634_100_000_000_000), "2026-11-25T19:15:00.000Z");
        assert_eq!(at(1_795_634_100_999_999_999), "2026-11-25T19:15:00.999Z");
        assert_eq!(at(1_795_634_100_001_000_000), "2026-11-25T19:15:00.001Z");
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_704_164_645_050_000_000), "2024-01-02T03:04:05.050Z");
        let c =
            |nanos: i128| compact_millis(OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap());
        assert_eq!(c(1_704_164_645_050_000_000), "20240102T030405.050Z");
        assert_eq!(c(0), "19700101T000000.000Z");
    }

    #[test]
    fn compact_names_parse_back() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_634_100_123_456_789).unwrap();
        assert!(is_compact_millis(&compact_millis(t)));
        for bad in [
            "",
            "20261125T191500Z",
            "20261125T191500.12Z",
            "20261125T191500.123",
            "20261125 191500.123Z",
            "2026-11-25T19:15:00.123Z",
            "20261125T191500.123Zx",
            "20261340T191500.123Z",
        ] {
            assert!(!is_compact_millis(bad), "{bad:?}");
        }
    }
}
