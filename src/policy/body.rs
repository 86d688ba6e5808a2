//! Request bodies for inspection: size limits, decoding (gzip, deflate, br, zstd) with a
//! decoded-size cap against decompression bombs, and JSON (duplicated keys recorded) /
//! form-urlencoded parsing.
//!
//! Bodies are decoded only to be inspected; the proxy forwards the bytes unchanged.

mod decode;
pub(crate) mod form;
pub mod json;

pub use decode::decode;
pub use form::parse_form;

use serde_json::Value;

/// `max_size` of a rule that inspects the body and does not set one: 1 MiB.
pub const DEFAULT_MAX_SIZE: usize = 1024 * 1024;

/// Largest `max_size` a rule may set: bodies are buffered in memory to be inspected.
pub const MAX_MAX_SIZE: usize = 64 * 1024 * 1024;

/// A compressed body may decode to at most this many times the rule's `max_size`…
pub const DECODED_SIZE_FACTOR: usize = 8;

/// …and never more than this, whatever the factor gives (bounds memory per request).
pub const MAX_DECODED_SIZE: usize = 64 * 1024 * 1024;

/// The decoded-size cap for a rule's `max_size`.
pub fn decoded_cap(max_size: usize) -> usize {
    max_size
        .saturating_mul(DECODED_SIZE_FACTOR)
        .min(MAX_DECODED_SIZE)
        .max(max_size)
}

/// Why a body that a rule must inspect cannot be inspected (each denies the request).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More bytes than the rule's `max_size` (or the proxy stopped reading).
    #[error("body too large to inspect (limit {max_size} bytes)")]
    TooLarge {
        /// The limit that was exceeded.
        max_size: usize,
    },
    /// The proxy did not pass the body although a matching rule inspects it.
    #[error("request body was not provided for inspection")]
    Missing,
    /// A `Content-Encoding` we cannot decode.
    #[error("unsupported content-encoding `{0}`")]
    UnsupportedEncoding(String),
    /// The bytes are not valid for their declared encoding.
    #[error("request body is not valid {encoding}: {reason}")]
    Corrupt {
        /// The encoding being decoded.
        encoding: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The decoded body grew past the cap: a likely decompression bomb.
    #[error("decoded body exceeds {cap} bytes (decompression bomb?)")]
    DecodedTooLarge {
        /// The cap that was exceeded.
        cap: usize,
    },
    /// `body.json` conditions on a body that is not JSON.
    #[error("request body is not valid JSON: {0}")]
    NotJson(String),
    /// `body.form` conditions on a body that is not form-urlencoded.
    #[error("request body is not valid form data: {0}")]
    NotForm(String),
}

/// Parses a decoded body as JSON (duplicated keys: the last value, see [`json::parse`]).
pub fn parse_json(bytes: &[u8]) -> Result<Value, BodyError> {
    json::parse(bytes).map(|parsed| parsed.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps() {
        assert_eq!(decoded_cap(1024), 8 * 1024);
        assert_eq!(decoded_cap(MAX_MAX_SIZE), MAX_DECODED_SIZE);
        assert_eq!(decoded_cap(usize::MAX), usize::MAX);
    }

    #[test]
    fn json_errors_carry_the_parser_message() {
        let err = parse_json(b"{\"a\":").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("request body is not valid JSON: "),
            "{err}"
        );
        assert_eq!(parse_json(b"[1]").unwrap(), serde_json::json!([1]));
    }
}
