//! `sign:` on a rule: a header keyward computes with a secret over parts of the request as
//! sent (an HMAC of the method, path, a timestamp, the body or its hash), for APIs that
//! authenticate requests by signature rather than by a token the agent could carry.

use crate::policy::ids::SecretName;

/// The compiled `sign:` of a rule.
#[derive(Clone, Debug)]
pub struct Signing {
    /// The secret whose value is the HMAC key (listed in the rule's `inject:`).
    pub secret: SecretName,
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    /// What is signed: literal text and request parts.
    pub message: Vec<Piece>,
    /// The header the signature goes in (replacing any value the agent sent).
    pub header: http::HeaderName,
    /// That header's value: literal text around `{signature}` (and any other piece).
    pub value: Vec<Piece>,
    /// A header set to the timestamp the message used, when the API wants it sent.
    pub timestamp_header: Option<http::HeaderName>,
}

/// `algorithm:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha512,
}

/// `encoding:` of the signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// A piece of a message or value template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// `{method}`: the request's method.
    Method,
    /// `{path}`: the path and query as sent.
    Path,
    /// `{host}`: the host the request goes to.
    Host,
    /// `{timestamp}`: Unix seconds, the same in every piece of one request.
    Timestamp,
    /// `{timestamp_ms}`: Unix milliseconds.
    TimestampMs,
    /// `{body}`: the body as sent.
    Body,
    /// `{body_sha256}`: the body's SHA-256, lowercase hex.
    BodySha256,
    /// `{signature}`: the signature, encoded (value templates only).
    Signature,
}

impl Piece {
    /// The piece `{name}` stands for.
    fn named(name: &str) -> Option<Piece> {
        Some(match name {
            "method" => Piece::Method,
            "path" => Piece::Path,
            "host" => Piece::Host,
            "timestamp" => Piece::Timestamp,
            "timestamp_ms" => Piece::TimestampMs,
            "body" => Piece::Body,
            "body_sha256" => Piece::BodySha256,
            "signature" => Piece::Signature,
            _ => return None,
        })
    }
}

/// The names `{…}` may hold, for errors.
pub const PIECE_NAMES: &str =
    "method, path, host, timestamp, timestamp_ms, body, body_sha256 (and signature in `value:`)";

/// Parses `{method}\n{path}` into pieces; `{{` and `}}` are a literal brace.
pub fn parse_pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let piece = Piece::named(name.trim()).ok_or_else(|| {
                    format!("unknown `{{{name}}}` in `{text}` (known: {PIECE_NAMES})")
                })?;
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(piece);
            }
            '}' => return Err(format!("unmatched `}}` in `{text}` (write `}}}}`)")),
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_parse_with_escaped_braces_and_name_what_is_unknown() {
        assert_eq!(
            parse_pieces("{method}\n{path}\n{timestamp}").unwrap(),
            [
                Piece::Method,
                Piece::Text("\n".into()),
                Piece::Path,
                Piece::Text("\n".into()),
                Piece::Timestamp
            ]
        );
        assert_eq!(
            parse_pieces("v0:{{x}}:{body}").unwrap(),
            [Piece::Text("v0:{x}:".into()), Piece::Body]
        );
        let e = parse_pieces("{secret}").unwrap_err();
        assert!(e.contains("unknown `{secret}`"), "{e}");
        assert!(parse_pieces("a}b").unwrap_err().contains("unmatched"));
    }
}
