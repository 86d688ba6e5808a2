//! Scrubs a whole response on its way to the agent: every header value (`Location` and
//! `Set-Cookie` included) and the body as a stream, decoding compressed bodies and fixing
//! the headers, or refusing a coding that cannot be scanned.

use std::borrow::Cow;
use std::sync::Arc;

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, HeaderName, HeaderValue};
use http::response::Parts;

use super::{RedactionCounts, ScrubbedBody, Scrubber, StreamScrubber, Tally};
use crate::body::ProxyBody;
use crate::content_coding::{self, CodingError, Decoder};

/// A response body that cannot be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnscannableResponse {
    #[error("response content-encoding {0:?} cannot be scanned for secrets")]
    Coding(String),
    #[error("response decoder failed: {0}")]
    Decoder(CodingError),
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
    scrub_headers(&mut parts.headers, scrubber, &mut counts);
    if let Ok(mut t) = tally.lock() {
        t.merge(counts);
    }
    let header = content_coding::header_list(&parts.headers);
    let codings = content_coding::parse(header.as_deref()).map_err(|_| {
        UnscannableResponse::Coding(header.as_deref().unwrap_or_default().trim().to_owned())
    })?;
    let decoder = match codings.as_slice() {
        [] => None,
        codings => Some(Decoder::new(codings).map_err(UnscannableResponse::Decoder)?),
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

/// Scrubs every header value in place; replacements are counted in `counts`. A header
/// with nothing to replace is neither copied nor touched (one scan per value).
fn scrub_headers(headers: &mut HeaderMap, scrubber: &Scrubber, counts: &mut RedactionCounts) {
    let mut dirty: Vec<HeaderName> = Vec::new();
    for (name, value) in headers.iter() {
        if matches!(scrubber.scrub(value.as_bytes(), counts), Cow::Owned(_))
            && !dirty.contains(name)
        {
            dirty.push(name.clone());
        }
    }
    for name in dirty {
        // Counted above: this pass only rebuilds the values.
        let mut recount = RedactionCounts::default();
        let cleaned: Vec<HeaderValue> = headers
            .get_all(&name)
            .iter()
            .filter_map(
                |value| match scrubber.scrub(value.as_bytes(), &mut recount) {
                    Cow::Borrowed(_) => Some(value.clone()),
                    // A placeholder is always valid in a header; otherwise drop the value.
                    Cow::Owned(clean) => HeaderValue::from_bytes(&clean).ok(),
                },
            )
            .collect();
        headers.remove(&name);
        for value in cleaned {
            headers.append(name.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests {

    use http_body_util::BodyExt;

    use super::*;
    use crate::content_coding::encode::{br, gzip, raw_deflate};
    use crate::secret::SecretValue;

    const SECRET: &str = "tok_live_abcdefghijklmnop";

    /// Scrubs a response with `Content-Encoding` lines `codings` and body `encoded`.
    async fn scrub(codings: &[&str], encoded: Vec<u8>) -> Result<(Parts, Vec<u8>), String> {
        let mut builder = http::Response::builder();
        for coding in codings {
            builder = builder.header(CONTENT_ENCODING, *coding);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        let secret = SecretValue::new(SECRET);
        let scrubber = Arc::new(Scrubber::new([(&secret, "keyward:t:0123456789abcdef")]));
        let body = scrub_response(
            &mut parts,
            crate::body::full(encoded),
            &scrubber,
            &Tally::default(),
            false,
        )
        .map_err(|e| e.to_string())?;
        let out = body.collect().await.map_err(|e| e.to_string())?;
        Ok((parts, out.to_bytes().to_vec()))
    }

    #[tokio::test]
    async fn stacked_and_raw_deflate_responses_are_decoded_and_scrubbed() {
        let plain = format!("{{\"echo\":\"{SECRET}\"}}");
        let cases = [
            (vec!["gzip, br"], br(&gzip(plain.as_bytes()))),
            (vec!["gzip", "br"], br(&gzip(plain.as_bytes()))),
            (vec!["deflate"], raw_deflate(plain.as_bytes())),
        ];
        for (codings, encoded) in cases {
            let (parts, out) = scrub(&codings, encoded).await.unwrap();
            assert_eq!(
                out, br#"{"echo":"keyward:t:0123456789abcdef"}"#,
                "{codings:?}"
            );
            assert!(parts.headers.get(CONTENT_ENCODING).is_none());
        }
    }

    #[test]
    fn only_header_values_holding_a_secret_are_rewritten_in_their_order() {
        let secret = SecretValue::new(SECRET);
        let placeholder = "keyward:t:0123456789abcdef";
        let scrubber = Scrubber::new([(&secret, placeholder)]);
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append(
            "set-cookie",
            HeaderValue::from_str(&format!("t={SECRET}")).unwrap(),
        );
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append(
            "location",
            HeaderValue::from_str(&format!("/x?k={SECRET}&j={SECRET}")).unwrap(),
        );
        headers.append("x-clean", HeaderValue::from_static("nothing here"));
        let mut counts = RedactionCounts::default();
        scrub_headers(&mut headers, &scrubber, &mut counts);
        let cookies: Vec<_> = headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies, ["a=1", &format!("t={placeholder}"), "b=2"]);
        assert_eq!(
            headers["location"],
            format!("/x?k={placeholder}&j={placeholder}").as_str()
        );
        assert_eq!(headers["x-clean"], "nothing here");
        assert_eq!(counts.raw, 3, "each replacement counted once");
        assert_eq!(headers.len(), 5);
    }

    #[tokio::test]
    async fn unknown_or_too_many_codings_are_unscannable() {
        for codings in [
            vec!["compress"],
            vec!["gzip, gzip, gzip"],
            vec!["gzip", "x-custom"],
        ] {
            let err = scrub(&codings, b"x".to_vec()).await.unwrap_err();
            assert!(err.contains("cannot be scanned for secrets"), "{err}");
        }
    }
}
