//! Streaming redaction: scrubs a body chunk by chunk, holding back only the bytes that could
//! begin a secret split across the next chunk boundary.

use bytes::{Bytes, BytesMut};

use super::{RedactionCounts, Scrubber};
use std::sync::Arc;

/// Per-body state of a [`Scrubber`] applied to a stream.
pub struct StreamScrubber {
    scrubber: Arc<Scrubber>,
    /// Bytes not yet emitted: a possible start of a secret.
    carry: BytesMut,
    counts: RedactionCounts,
}

impl StreamScrubber {
    pub fn new(scrubber: Arc<Scrubber>) -> Self {
        Self {
            scrubber,
            carry: BytesMut::new(),
            counts: RedactionCounts::default(),
        }
    }

    /// Takes the next chunk; returns what can be sent now (possibly empty). A chunk with no
    /// secret in it, and nothing held back before it, is passed on without a copy.
    pub fn push(&mut self, chunk: Bytes) -> Bytes {
        if self.scrubber.is_empty() {
            return chunk;
        }
        if self.carry.is_empty() {
            let hold = self.scrubber.pending_prefix(&chunk);
            let safe = chunk.len().saturating_sub(hold);
            let first = self.scrubber.matches(&chunk[..]).next();
            if first.is_none_or(|m| m.start >= safe) {
                self.carry.extend_from_slice(&chunk[safe..]);
                return chunk.slice(..safe);
            }
        }
        self.carry.extend_from_slice(&chunk);
        let buf = std::mem::take(&mut self.carry);
        // Only a tail that could begin a secret waits for the next chunk (a small event of a
        // stream goes out at once). A match starting before `safe` cannot grow or be preceded
        // by another once more bytes arrive, so it is final.
        let hold = self.scrubber.pending_prefix(&buf);
        let safe = buf.len().saturating_sub(hold);
        let mut out = BytesMut::with_capacity(buf.len());
        let mut emitted = 0;
        for m in self.scrubber.matches(&buf[..]) {
            if m.start >= safe {
                break;
            }
            out.extend_from_slice(&buf[emitted..m.start]);
            out.extend_from_slice(m.replacement);
            self.counts.add(m.encoding);
            emitted = m.end;
        }
        let cut = emitted.max(safe);
        out.extend_from_slice(&buf[emitted..cut]);
        self.carry.extend_from_slice(&buf[cut..]);
        out.freeze()
    }

    /// Takes the stream's last chunk and ends it: the chunk and what was held back,
    /// scrubbed whole (a body that arrives in one chunk goes out in one, uncopied when it
    /// holds no secret).
    pub fn push_last(&mut self, chunk: Bytes) -> Bytes {
        if self.scrubber.is_empty() {
            return chunk;
        }
        if !self.carry.is_empty() {
            self.carry.extend_from_slice(&chunk);
            return self.finish();
        }
        match self.scrubber.scrub(&chunk, &mut self.counts) {
            std::borrow::Cow::Borrowed(_) => chunk,
            std::borrow::Cow::Owned(clean) => Bytes::from(clean),
        }
    }

    /// Ends the stream: scrubs and returns what was held back.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.carry);
        let out = self.scrubber.scrub(&rest, &mut self.counts).into_owned();
        Bytes::from(out)
    }

    /// Replacements made so far.
    pub fn counts(&self) -> RedactionCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretValue;

    const SECRET: &str = "sk_live_51HxQzTopSecretValue";
    const PLACEHOLDER: &str = "keyward:stripe:0123456789abcdef";

    fn run(chunks: &[&[u8]], scrubber: &Arc<Scrubber>) -> (Vec<u8>, RedactionCounts) {
        let mut s = StreamScrubber::new(scrubber.clone());
        let mut out = Vec::new();
        for c in chunks {
            out.extend_from_slice(&s.push(Bytes::copy_from_slice(c)));
        }
        out.extend_from_slice(&s.finish());
        (out, s.counts())
    }

    /// As `run`, with the last chunk given as the stream's last.
    fn run_last(chunks: &[&[u8]], scrubber: &Arc<Scrubber>) -> (Vec<u8>, RedactionCounts) {
        let mut s = StreamScrubber::new(scrubber.clone());
        let mut out = Vec::new();
        if let Some((last, rest)) = chunks.split_last() {
            for c in rest {
                out.extend_from_slice(&s.push(Bytes::copy_from_slice(c)));
            }
            out.extend_from_slice(&s.push_last(Bytes::copy_from_slice(last)));
        }
        (out, s.counts())
    }

    /// Scrubs `bytes` cut into three chunks at every pair of places, asserting the output is
    /// `expected` each time and checking the counts with `check`.
    fn for_every_three_way_split(
        bytes: &[u8],
        scrubber: &Arc<Scrubber>,
        expected: &str,
        check: impl Fn(RedactionCounts),
    ) {
        for a in 0..bytes.len() {
            for b in a..bytes.len() {
                let chunks = [&bytes[..a], &bytes[a..b], &bytes[b..]];
                for runner in [run, run_last] {
                    let (out, counts) = runner(&chunks, scrubber);
                    assert_eq!(
                        String::from_utf8(out).unwrap(),
                        expected,
                        "split at {a},{b}"
                    );
                    check(counts);
                }
            }
        }
    }

    #[test]
    fn secret_split_at_every_boundary_is_replaced() {
        let secret = SecretValue::new(SECRET);
        let scrubber = Arc::new(Scrubber::new([(&secret, PLACEHOLDER)]));
        let body = format!("{{\"token\":\"{SECRET}\",\"again\":\"{SECRET}\"}}");
        let bytes = body.as_bytes();
        let expected = body.replace(SECRET, PLACEHOLDER);
        for_every_three_way_split(bytes, &scrubber, &expected, |counts| {
            assert_eq!(counts.raw, 2);
        });
    }

    #[test]
    fn an_escaped_secret_split_at_every_boundary_is_replaced() {
        let secret = SecretValue::new("kw/a<b&\"c d\\e");
        let scrubber = Arc::new(Scrubber::new([(&secret, PLACEHOLDER)]));
        // Go's HTML-safe JSON, then Python's `quote_plus` with lower-case hex.
        let body = "{\"t\":\"kw/a\\u003cb\\u0026\\\"c d\\\\e\",\"q\":\"kw%2fa%3cb%26%22c+d%5ce\"}";
        let expected = "{\"t\":\"keyward:stripe:0123456789abcdef\",\"q\":\"keyward%3Astripe%3A0123456789abcdef\"}";
        for_every_three_way_split(body.as_bytes(), &scrubber, expected, |counts| {
            assert_eq!((counts.json_escaped, counts.url_encoded), (1, 1));
        });
    }

    #[test]
    fn byte_by_byte_stream_is_scrubbed() {
        let secret = SecretValue::new(SECRET);
        let scrubber = Arc::new(Scrubber::new([(&secret, PLACEHOLDER)]));
        let body = format!("data: {SECRET}\n\n");
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(1).collect();
        let (out, _) = run(&chunks, &scrubber);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            body.replace(SECRET, PLACEHOLDER)
        );
    }

    #[test]
    fn only_a_tail_that_could_begin_a_secret_is_held_back() {
        let secret = SecretValue::new(SECRET);
        let scrubber = Arc::new(Scrubber::new([(&secret, PLACEHOLDER)]));
        let mut s = StreamScrubber::new(scrubber);
        assert_eq!(
            &s.push(Bytes::from_static(b"data: hi\n\n"))[..],
            b"data: hi\n\n"
        );
        assert_eq!(&s.push(Bytes::from_static(b"data: sk_li"))[..], b"data: ");
        assert_eq!(
            &s.push(Bytes::from_static(b"ve_51HxQzTopSecretValue!"))[..],
            format!("{PLACEHOLDER}!").as_bytes()
        );
        assert_eq!(&s.push(Bytes::from_static(b"sk_live"))[..], b"");
        assert_eq!(&s.finish()[..], b"sk_live");
    }

    #[test]
    fn the_last_chunk_is_scrubbed_with_what_was_held_back() {
        let secret = SecretValue::new(SECRET);
        let scrubber = Arc::new(Scrubber::new([(&secret, PLACEHOLDER)]));
        let mut s = StreamScrubber::new(scrubber.clone());
        assert_eq!(&s.push(Bytes::from_static(b"a sk_li"))[..], b"a ");
        assert_eq!(
            &s.push_last(Bytes::from_static(b"ve_51HxQzTopSecretValue!"))[..],
            format!("{PLACEHOLDER}!").as_bytes()
        );
        assert_eq!(s.counts().raw, 1);

        let mut s = StreamScrubber::new(scrubber.clone());
        let whole = format!("x {SECRET}");
        assert_eq!(
            &s.push_last(Bytes::from(whole))[..],
            format!("x {PLACEHOLDER}").as_bytes(),
            "a secret at the very end is not held back"
        );

        // Clean data is passed on as the same bytes, not a copy.
        let mut s = StreamScrubber::new(scrubber);
        let clean = Bytes::from_static(b"nothing to see, ends in sk_");
        let sent = s.push(clean.clone());
        assert_eq!(sent.as_ptr(), clean.as_ptr());
        assert_eq!(&sent[..], b"nothing to see, ends in ");
        let last = Bytes::from_static(b"all clean");
        let out = s.push_last(last.clone());
        assert_eq!(&out[..], b"sk_all clean");
        let mut s = StreamScrubber::new(Arc::new(Scrubber::new([(
            &SecretValue::new(SECRET),
            PLACEHOLDER,
        )])));
        let out = s.push_last(last.clone());
        assert_eq!(out.as_ptr(), last.as_ptr());
        assert_eq!(s.counts().total(), 0);
    }

    #[test]
    fn without_secrets_chunks_pass_unchanged() {
        let scrubber = Arc::new(Scrubber::empty());
        let (out, counts) = run(&[b"abc", b"def"], &scrubber);
        assert_eq!(out, b"abcdef");
        assert_eq!(counts.total(), 0);
    }
}
