//! Redaction a rule asks for on responses (`response: { redact_patterns, redact_json }`):
//! matches of named pattern sets replaced with `[redacted:<set>]` as the body streams (a
//! bounded window carries matches across chunks), and JSON fields masked in JSON bodies
//! (buffered up to a cap; larger or invalid JSON bodies fail closed).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::Tally;
use super::body::last_frame;
use crate::body::{BoxError, ProxyBody};
use crate::policy::json::JsonPath;
use crate::policy::{Rule, RuleSet};

/// Bytes held back so a pattern match split across chunks is still found. Matches longer
/// than this are not guaranteed to be caught across a chunk boundary.
pub const PATTERN_WINDOW: usize = 4096;
/// Largest JSON body that is buffered to mask fields.
pub const JSON_CAP: usize = 8 * 1024 * 1024;

/// What a rule redacts from responses.
#[derive(Clone, Debug, Default)]
pub struct RuleRedaction {
    /// (set name, its regexes).
    pub patterns: Vec<(String, Vec<regex::bytes::Regex>)>,
    /// JSON fields to mask.
    pub json: Vec<JsonPath>,
}

impl RuleRedaction {
    /// The redaction `rule` asks for, its pattern sets resolved by name in `rules`; `None`
    /// when it asks for none. Built once per rule generation and shared by every response:
    /// a cloned `Regex` starts with empty search caches, which cost more to rebuild than a
    /// whole small response takes to scan.
    pub fn of(rule: &Rule, rules: &RuleSet) -> Option<Self> {
        let response = rule.response()?;
        let patterns = response
            .redact_patterns
            .iter()
            .filter_map(|name| rules.patterns().iter().find(|p| &p.name == name))
            .map(|set| (set.name.clone(), set.regexes.clone()))
            .collect();
        let redaction = RuleRedaction {
            patterns,
            json: response.redact_json.clone(),
        };
        (!redaction.is_empty()).then_some(redaction)
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty() && self.json.is_empty()
    }

    /// Replaces every pattern match that is final in `buf[..]` (ends before `buf.len()`
    /// unless `last`); returns the redacted prefix and how many bytes of `buf` it covers.
    fn scan(&self, buf: &[u8], last: bool, count: &mut u64) -> (Vec<u8>, usize) {
        let hold = if last { 0 } else { PATTERN_WINDOW };
        let mut cut = buf.len().saturating_sub(hold);
        if cut == 0 && !last {
            // Nothing can be final yet: the next scan would find the same matches again.
            return (Vec::new(), 0);
        }
        // Collect every match of every set, leftmost first, without overlaps.
        let mut found: Vec<(usize, usize, &str)> = Vec::new();
        for (name, regexes) in &self.patterns {
            for re in regexes {
                for m in re.find_iter(buf) {
                    if m.end() > m.start() {
                        found.push((m.start(), m.end(), name));
                    }
                }
            }
        }
        found.sort_by_key(|(s, e, _)| (*s, std::cmp::Reverse(*e)));
        let mut out = Vec::with_capacity(buf.len());
        let mut emitted = 0;
        for (start, end, name) in found {
            if start < emitted {
                continue;
            }
            if start >= cut {
                break;
            }
            if end == buf.len() && !last {
                // May grow with the next chunk: hold it back whole.
                cut = start;
                break;
            }
            out.extend_from_slice(&buf[emitted..start]);
            out.extend_from_slice(format!("[redacted:{name}]").as_bytes());
            *count += 1;
            emitted = end;
        }
        let cut = cut.max(emitted);
        out.extend_from_slice(&buf[emitted..cut]);
        (out, cut)
    }

    /// Masks the JSON fields of a whole body; `Err` when it is not JSON.
    fn mask_json(&self, body: &[u8], count: &mut u64) -> Result<Vec<u8>, String> {
        let (out, masked) = super::json_mask::mask(body, &self.json).map_err(|e| e.to_string())?;
        *count += masked;
        Ok(out)
    }
}

/// A response body with a rule's redaction applied.
pub struct RuleRedactedBody {
    inner: ProxyBody,
    rules: Arc<RuleRedaction>,
    /// Whether the body is JSON and fields must be masked (then it is buffered whole).
    json: bool,
    buf: BytesMut,
    tally: Tally,
    count: u64,
    done: bool,
}

impl RuleRedactedBody {
    pub fn new(inner: ProxyBody, rules: Arc<RuleRedaction>, json: bool, tally: Tally) -> Self {
        let json = json && !rules.json.is_empty();
        Self {
            inner,
            rules,
            json,
            buf: BytesMut::new(),
            tally,
            count: 0,
            done: false,
        }
    }

    fn finish(&mut self) -> Result<Bytes, BoxError> {
        let buf = std::mem::take(&mut self.buf);
        let mut count = self.count;
        let out = if self.json {
            let masked = self.rules.mask_json(&buf, &mut count)?;
            self.rules.scan(&masked, true, &mut count).0
        } else {
            self.rules.scan(&buf, true, &mut count).0
        };
        self.count = count;
        if let Ok(mut t) = self.tally.lock() {
            t.patterns += self.count;
        }
        Ok(Bytes::from(out))
    }
}

impl Body for RuleRedactedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        for _ in 0..1024 {
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    self.buf.extend_from_slice(&data);
                    if self.json && self.buf.len() > JSON_CAP {
                        return Poll::Ready(Some(Err("JSON response too large to redact".into())));
                    }
                    if self.inner.is_end_stream() {
                        // The last frame: redacted whole now, not after another poll.
                        self.done = true;
                        return last_frame(self.finish());
                    }
                    if self.json {
                        continue;
                    }
                    let mut count = self.count;
                    let (out, used) = self.rules.scan(&self.buf, false, &mut count);
                    self.count = count;
                    let _ = self.buf.split_to(used);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    return last_frame(self.finish());
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::body::chunked as body;
    use http_body_util::BodyExt;

    fn rules() -> Arc<RuleRedaction> {
        Arc::new(RuleRedaction {
            patterns: vec![(
                "tokens".into(),
                vec![regex::bytes::Regex::new("ghp_[A-Za-z0-9]{20,}").unwrap()],
            )],
            json: vec![
                JsonPath::parse("/user/email").unwrap(),
                JsonPath::parse("/items/*/card").unwrap(),
            ],
        })
    }

    #[tokio::test]
    async fn pattern_split_across_chunks_is_redacted() {
        let text = format!("log: ghp_{} end", "a".repeat(30));
        for split in 1..text.len() {
            let tally = Tally::default();
            let chunks = vec![
                text.as_bytes()[..split].to_vec(),
                text.as_bytes()[split..].to_vec(),
            ];
            let b = RuleRedactedBody::new(body(chunks), rules(), false, tally.clone());
            let out = b.collect().await.unwrap().to_bytes();
            assert_eq!(
                String::from_utf8_lossy(&out),
                "log: [redacted:tokens] end",
                "split {split}"
            );
            assert_eq!(tally.lock().unwrap().patterns, 1);
        }
    }

    #[tokio::test]
    async fn json_fields_are_masked_and_invalid_json_fails_closed() {
        let json =
            br#"{"user":{"email":"a@b.c","name":"x"},"items":[{"card":"4111"},{"card":"5500"}]}"#;
        let tally = Tally::default();
        let b = RuleRedactedBody::new(
            body(vec![json[..10].to_vec(), json[10..].to_vec()]),
            rules(),
            true,
            tally.clone(),
        );
        let out: serde_json::Value =
            serde_json::from_slice(&b.collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(out["user"]["email"], "[redacted]");
        assert_eq!(out["user"]["name"], "x");
        assert_eq!(out["items"][1]["card"], "[redacted]");
        assert_eq!(tally.lock().unwrap().patterns, 3);
        let bad = RuleRedactedBody::new(
            body(vec![b"not json".to_vec()]),
            rules(),
            true,
            Tally::default(),
        );
        assert!(bad.collect().await.is_err());
    }
}
