//! Scrubs a whole response on its way to the agent: every header value (`Location` and
//! `Set-Cookie` included) and the body as a stream, decoding compressed bodies and fixing
//! the headers, or refusing a coding that cannot be scanned.

use std::borrow::Cow;
use std::sync::Arc;

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderValue};
use http::response::Parts;

use super::{Coding, Decoder, RedactionCounts, ScrubbedBody, Scrubber, StreamScrubber, Tally};
use crate::body::ProxyBody;

/// A response body that cannot be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnscannableResponse {
    #[error("response content-encoding {0:?} cannot be scanned for secrets")]
    Coding(String),
    #[error("response decoder failed: {0}")]
    Decoder(String),
}

/// Scrubs `parts` in place and wraps `body`; counts go to `tally` (headers now, body as it
/// streams). With no secret known, the response passes untouched unless `decode_always`
/// (a rule redacts the body, so it must be decoded).
pub fn scrub_response(
    parts: &mut Parts,
    body: ProxyBody,
    scrubber: &Arc<Scrubber>,
    tally: &Tally,
    decode_always: bool,
) -> Result<ProxyBody, UnscannableResponse> {
    if scrubber.is_empty() && !decode_always {
        return Ok(body);
    }
    let mut counts = RedactionCounts::default();
    let names: Vec<_> = parts.headers.keys().cloned().collect();
    for name in names {
        let values: Vec<HeaderValue> = parts.headers.get_all(&name).iter().cloned().collect();
        let mut cleaned = Vec::with_capacity(values.len());
        let mut changed = false;
        for value in &values {
            match scrubber.scrub(value.as_bytes(), &mut counts) {
                Cow::Borrowed(_) => cleaned.push(value.clone()),
                Cow::Owned(clean) => {
                    changed = true;
                    // A placeholder is always valid in a header; otherwise drop the value.
                    if let Ok(v) = HeaderValue::from_bytes(&clean) {
                        cleaned.push(v);
                    }
                }
            }
        }
        if changed {
            parts.headers.remove(&name);
            for v in cleaned {
                parts.headers.append(name.clone(), v);
            }
        }
    }
    if let Ok(mut t) = tally.lock() {
        t.merge(counts);
    }
    let coding = Coding::parse(
        parts
            .headers
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(UnscannableResponse::Coding)?;
    let decoder = match coding {
        None => None,
        Some(c) => Some(Decoder::new(c).map_err(|e| UnscannableResponse::Decoder(e.to_string()))?),
    };
    if decoder.is_some() {
        parts.headers.remove(CONTENT_ENCODING);
    }
    // Replacements change the length; the body is re-framed (chunked or h2 DATA frames).
    parts.headers.remove(CONTENT_LENGTH);
    let scrubbed = ScrubbedBody::new(
        body,
        StreamScrubber::new(scrubber.clone()),
        decoder,
        tally.clone(),
    );
    Ok(crate::body::stream(scrubbed))
}
