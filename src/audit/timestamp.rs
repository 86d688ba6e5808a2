//! UTC timestamps for entries (RFC 3339 with milliseconds) and rotated file names.
//!
//! Formatted by hand from `time`'s components so no formatting feature is needed, and so
//! the format is fixed here rather than in a format-description string.

use time::OffsetDateTime;

/// The current time as RFC 3339 UTC with milliseconds: `2026-11-25T19:15:00.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339_millis(OffsetDateTime::now_utc())
}

/// `t` (converted to UTC) as RFC 3339 with milliseconds: `2026-11-25T19:15:00.123Z`.
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// `t` (converted to UTC) in the compact form used for rotated files:
/// `20261125T191500.123Z`. Names in this form sort chronologically.
pub fn compact_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_fixed_width_utc_with_millis() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_795_634_100_123_456_789).unwrap();
        assert_eq!(rfc3339_millis(t), "2026-11-25T19:15:00.123Z");
        assert_eq!(compact_millis(t), "20261125T191500.123Z");
        let offset = t.to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(rfc3339_millis(offset), "2026-11-25T19:15:00.123Z");
    }
}
