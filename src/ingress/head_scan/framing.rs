//! The scanner's state machine: a head, then its body by `Content-Length` or chunks, then
//! the next head; off for good once the bytes are something it does not follow.

use super::HeadFinding;

/// Longest chunk-size or trailer line followed before giving up (hyper refuses it anyway).
const MAX_LINE: usize = 8 * 1024;

/// Most header fields parsed in a head (more is hyper's 431).
const MAX_FIELDS: usize = 256;

/// Where the scanner is in the byte stream.
#[derive(Debug)]
enum State {
    /// Collecting a head.
    Head(Vec<u8>),
    /// Inside a body of known length: bytes left.
    Length(u64),
    /// A chunk-size line so far.
    ChunkSize(Vec<u8>),
    /// Inside chunk data: bytes left.
    ChunkData(u64),
    /// The line end after chunk data so far.
    ChunkEnd(Vec<u8>),
    /// A trailer line so far (an empty one ends the body).
    Trailer(Vec<u8>),
    /// Not following this connection (any more).
    Off,
}

/// The scanner of one connection.
#[derive(Debug)]
pub(super) struct Scan {
    state: State,
    /// The head limit: a request line reaching it is too long.
    limit: usize,
}

impl Scan {
    /// Expecting a head of at most `limit` bytes.
    pub(super) fn new(limit: usize) -> Self {
        Self {
            state: State::Head(Vec::new()),
            limit,
        }
    }

    /// Never scanning.
    pub(super) fn off() -> Self {
        Self {
            state: State::Off,
            limit: 0,
        }
    }

    /// Follows `data`, pushing one entry per complete head to `heads`; `Some(reason)` when
    /// the current request line is longer than the limit.
    pub(super) fn feed(
        &mut self,
        data: &[u8],
        heads: &mut Vec<Option<HeadFinding>>,
    ) -> Option<String> {
        let mut pending: Option<Vec<u8>> = None;
        let mut at = 0usize;
        loop {
            let input: &[u8] = pending.as_deref().unwrap_or(data);
            let rest = input.get(at..).unwrap_or_default();
            if rest.is_empty() || matches!(self.state, State::Off) {
                return None;
            }
            match &mut self.state {
                State::Off => return None,
                State::Length(left) => {
                    let take = skip(left, rest);
                    at += take;
                    if *left == 0 {
                        self.state = State::Head(Vec::new());
                    }
                }
                State::ChunkData(left) => {
                    let take = skip(left, rest);
                    at += take;
                    if *left == 0 {
                        self.state = State::ChunkEnd(Vec::new());
                    }
                }
                State::ChunkSize(line) | State::ChunkEnd(line) | State::Trailer(line) => {
                    let (took, done) = take_line(line, rest);
                    at += took;
                    if line.len() > MAX_LINE {
                        self.state = State::Off;
                    } else if done {
                        self.state = after_line(&self.state);
                    }
                }
                State::Head(buf) => {
                    buf.extend_from_slice(rest);
                    match parse_head(buf, self.limit) {
                        Parsed::Partial => return None,
                        Parsed::TooLong(reason) => {
                            self.state = State::Off;
                            return Some(reason);
                        }
                        Parsed::Unfollowable => {
                            self.state = State::Off;
                            return None;
                        }
                        Parsed::Complete { len, finding, next } => {
                            heads.push(finding);
                            let leftover = buf.get(len..).unwrap_or_default().to_vec();
                            self.state = next;
                            pending = Some(leftover);
                            at = 0;
                        }
                    }
                }
            }
        }
    }
}

/// Skips up to `left` bytes of `rest`; how many were skipped.
fn skip(left: &mut u64, rest: &[u8]) -> usize {
    let take = usize::try_from(*left).map_or(rest.len(), |l| l.min(rest.len()));
    *left -= take as u64;
    take
}

/// Appends `rest` up to and including its first `\n` to `line`; bytes taken and whether
/// the line ended.
fn take_line(line: &mut Vec<u8>, rest: &[u8]) -> (usize, bool) {
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            line.extend_from_slice(rest.get(..=i).unwrap_or_default());
            (i + 1, true)
        }
        None => {
            line.extend_from_slice(rest);
            (rest.len(), false)
        }
    }
}

/// The state after a complete chunk-size, chunk-end or trailer line.
fn after_line(state: &State) -> State {
    match state {
        State::ChunkSize(line) => match httparse::parse_chunk_size(line) {
            Ok(httparse::Status::Complete((_, 0))) => State::Trailer(Vec::new()),
            Ok(httparse::Status::Complete((_, size))) => State::ChunkData(size),
            _ => State::Off,
        },
        State::ChunkEnd(line) if line == b"\r\n" || line == b"\n" => State::ChunkSize(Vec::new()),
        State::Trailer(line) if line == b"\r\n" || line == b"\n" => State::Head(Vec::new()),
        State::Trailer(_) => State::Trailer(Vec::new()),
        _ => State::Off,
    }
}

/// What a head buffer holds so far.
enum Parsed {
    Partial,
    TooLong(String),
    Unfollowable,
    Complete {
        len: usize,
        finding: Option<HeadFinding>,
        next: State,
    },
}

/// Parses a head; judges what hyper will not show; finds where its body ends.
fn parse_head(buf: &[u8], limit: usize) -> Parsed {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n');
    let line = start.and_then(|s| buf.get(s..)).unwrap_or_default();
    let line_len = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    if line_len >= limit {
        return Parsed::TooLong(format!(
            "request line longer than the {limit}-byte head limit; refused"
        ));
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < limit => return Parsed::Partial,
        Ok(httparse::Status::Partial) | Err(_) => return Parsed::Unfollowable,
    };
    let named = |name: &'static str| {
        req.headers
            .iter()
            .find(move |h| h.name.eq_ignore_ascii_case(name))
    };
    let te = named("transfer-encoding").is_some();
    let cl = named("content-length");
    let target = req.path.unwrap_or_default();
    let finding = if target.contains('#') {
        Some(HeadFinding(format!(
            "request target {target:?} contains `#`: a fragment is never sent to a server, and servers disagree on where the path ends; refused"
        )))
    } else if te && cl.is_some() {
        Some(HeadFinding(
            "request has both Content-Length and Transfer-Encoding: servers disagree on which one frames the body; refused".to_owned(),
        ))
    } else {
        None
    };
    let upgrade = req.method == Some("CONNECT") || named("upgrade").is_some();
    let next = if upgrade {
        State::Off
    } else if te {
        State::ChunkSize(Vec::new())
    } else if let Some(cl) = cl {
        match std::str::from_utf8(cl.value)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(0) => State::Head(Vec::new()),
            Some(n) => State::Length(n),
            None => State::Off,
        }
    } else {
        State::Head(Vec::new())
    };
    Parsed::Complete { len, finding, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]], limit: usize) -> (Vec<Option<String>>, Option<String>) {
        let mut scan = Scan::new(limit);
        let mut heads = Vec::new();
        let mut too_long = None;
        for chunk in chunks {
            too_long = too_long.or(scan.feed(chunk, &mut heads));
        }
        (
            heads.into_iter().map(|h| h.map(|f| f.0)).collect(),
            too_long,
        )
    }

    #[test]
    fn heads_are_found_after_length_and_chunked_bodies_split_anywhere() {
        let stream = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6;x=1\r\nGET /#\r\n0\r\nT: 1\r\n\r\n\
GET /c#frag HTTP/1.1\r\nHost: h\r\n\r\n";
        for split in 1..stream.len() {
            let (a, b) = stream.split_at(split);
            let (heads, too_long) = scan(&[a, b], 8192);
            assert_eq!(heads.len(), 3, "split at {split}: {heads:?}");
            assert!(
                heads[0].is_none() && heads[1].is_none(),
                "{split}: {heads:?}"
            );
            assert!(heads[2].as_deref().unwrap().contains('#'), "{split}");
            assert!(too_long.is_none());
        }
    }

    #[test]
    fn both_framings_are_found_in_either_order() {
        for head in [
            "POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /a HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n",
        ] {
            let (heads, _) = scan(&[head.as_bytes()], 8192);
            assert!(
                heads[0].as_deref().unwrap().contains("Content-Length"),
                "{head}"
            );
        }
    }

    #[test]
    fn a_request_line_over_the_limit_is_too_long_but_long_headers_are_hyper_s() {
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
        let (_, too_long) = scan(&[long.as_bytes()], 8192);
        assert!(too_long.unwrap().contains("8192-byte head limit"));
        let headers = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(9000));
        assert_eq!(scan(&[headers.as_bytes()], 8192).1, None);
    }

    #[test]
    fn connect_upgrades_and_garbage_turn_the_scanner_off() {
        let (heads, _) = scan(
            &[b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n\x16\x03\x01GET /#x HTTP/1.1\r\n\r\n"],
            8192,
        );
        assert_eq!(heads, vec![None]);
        let (heads, _) = scan(&[b"\x16\x03\x01\x02\x00GET /# HTTP/1.1\r\n\r\n"], 8192);
        assert!(heads.is_empty());
    }
}
