//! Server-sent events framing (the WHATWG `text/event-stream` rules): where an event ends,
//! the data it carries, and the event with its data replaced. Lines end with CRLF, LF or CR;
//! an empty line ends an event. Shared by the readers of MCP answers and of LLM usage.

use std::borrow::Cow;

/// Where scanning a buffer for the end of its first event got to.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The first event is `buf[..n]`, its blank line included.
    Event(usize),
    /// No event ends in the buffer yet; scanning may resume at this line start.
    More(usize),
}

/// Looks for the end of the first event of `buf`, starting at the line start `from` (a
/// previous [`Scan::More`], or 0). At the end of the stream (`last`) the rest is an event.
pub fn scan(buf: &[u8], from: usize, last: bool) -> Scan {
    let mut line = from;
    loop {
        let Some(rel) = buf
            .get(line..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\r' || b == b'\n'))
        else {
            return match (last, !buf.is_empty()) {
                (true, true) => Scan::Event(buf.len()),
                _ => Scan::More(line),
            };
        };
        let end = line + rel;
        let terminator = match (buf.get(end), buf.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => 2,
            // A CR last in the buffer may be the first half of a CRLF.
            (Some(b'\r'), None) if !last => return Scan::More(line),
            _ => 1,
        };
        let next = end + terminator;
        if end == line {
            return Scan::Event(next);
        }
        line = next;
    }
}

/// The lines of an event, without their terminators.
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = event;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(rest.len());
        let line = rest.get(..end).unwrap_or_default();
        let after = match (rest.get(end), rest.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => end + 2,
            (Some(_), _) => end + 1,
            (None, _) => end,
        };
        rest = rest.get(after..).unwrap_or_default();
        Some(line)
    })
}

/// The field name and value of a line (`data: x` → `data`, `x`); a comment is `None`.
fn field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if line.first() == Some(&b':') {
        return None;
    }
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            let value = line.get(colon + 1..).unwrap_or_default();
            Some((
                line.get(..colon).unwrap_or_default(),
                value.strip_prefix(b" ").unwrap_or(value),
            ))
        }
        None => Some((line, b"")),
    }
}

/// The event's data (its `data` lines joined with LF), decoded as a client would (invalid
/// UTF-8 replaced); `None` when it has no `data` line.
pub fn data(event: &[u8]) -> Option<String> {
    let mut data: Option<Vec<u8>> = None;
    for (name, value) in lines(event).filter_map(field) {
        if name != b"data" {
            continue;
        }
        match &mut data {
            None => data = Some(value.to_vec()),
            Some(joined) => {
                joined.push(b'\n');
                joined.extend_from_slice(value);
            }
        }
    }
    data.map(|d| match String::from_utf8_lossy(&d) {
        Cow::Borrowed(s) => s.to_owned(),
        Cow::Owned(s) => s,
    })
}

/// The event's type: its last `event` field (`message` when it has none, as clients read it).
pub fn event_type(event: &[u8]) -> String {
    lines(event)
        .filter_map(field)
        .filter(|(name, _)| *name == b"event")
        .last()
        .map_or_else(
            || "message".to_owned(),
            |(_, v)| String::from_utf8_lossy(v).into_owned(),
        )
}

/// The event with its data replaced by `new_data` (one line), its other fields kept.
pub fn rewrite(event: &[u8], new_data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(new_data.len() + 64);
    let mut written = false;
    for line in lines(event) {
        if line.is_empty() {
            continue;
        }
        if field(line).is_some_and(|(name, _)| name == b"data") {
            if !written {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(new_data.as_bytes());
                out.push(b'\n');
                written = true;
            }
            continue;
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_at_blank_lines_in_every_line_ending() {
        for (buf, end) in [
            (&b"data: a\n\nrest"[..], 9),
            (b"data: a\r\n\r\nrest", 11),
            (b"data: a\r\rrest", 9),
            (b"event: message\ndata: a\r\n\n", 25),
        ] {
            assert_eq!(scan(buf, 0, false), Scan::Event(end), "{buf:?}");
        }
    }

    #[test]
    fn an_unfinished_event_waits_and_resumes_at_its_last_line() {
        assert_eq!(scan(b"data: a\ndata: b", 0, false), Scan::More(8));
        assert_eq!(scan(b"data: a\ndata: b", 8, false), Scan::More(8));
        // A CR at the end may be half a CRLF.
        assert_eq!(scan(b"data: a\r\n\r", 0, false), Scan::More(9));
        assert_eq!(scan(b"data: a\r\n\r", 0, true), Scan::Event(10));
        assert_eq!(scan(b"data: tail", 0, true), Scan::Event(10));
        assert_eq!(scan(b"", 0, true), Scan::More(0));
    }

    #[test]
    fn data_lines_join_and_comments_and_other_fields_do_not_count() {
        let event = b": comment\nevent: message\nid: 7\ndata: {\"a\":\ndata:1}\n\n";
        assert_eq!(data(event).as_deref(), Some("{\"a\":\n1}"));
        assert_eq!(data(b"event: ping\n\n"), None);
        assert_eq!(data(b"data\n\n").as_deref(), Some(""));
        assert_eq!(data(b"data: \xff\n\n").as_deref(), Some("\u{fffd}"));
    }

    #[test]
    fn a_rewritten_event_keeps_its_other_fields() {
        let event = b"event: message\r\nid: 7\r\ndata: {\"old\":\r\ndata: 1}\r\n\r\n";
        assert_eq!(
            rewrite(event, "{\"new\":2}"),
            b"event: message\nid: 7\ndata: {\"new\":2}\n\n"
        );
    }
}
