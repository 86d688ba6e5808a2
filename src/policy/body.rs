//! Request bodies for inspection: size limits, decoding by [`crate::content_coding`] with
//! its decoded-size cap against decompression bombs, and JSON (duplicated keys recorded) /
//! form-urlencoded parsing.
//!
//! Bodies are decoded only to be inspected; the proxy forwards the bytes unchanged.

pub(crate) mod form;
pub mod json;

pub use crate::content_coding::{DECODED_SIZE_FACTOR, MAX_DECODED_SIZE, decoded_cap};
pub use form::parse_form;

use std::borrow::Cow;

use serde_json::Value;

use crate::content_coding::{self, CodingError};

/// `max_size` of a rule that inspects the body and does not set one: 1 MiB.
pub const DEFAULT_MAX_SIZE: usize = 1024 * 1024;

/// Largest `max_size` a rule may set: bodies are buffered in memory to be inspected.
pub const MAX_MAX_SIZE: usize = 64 * 1024 * 1024;

/// Decodes a request body per its `Content-Encoding` list ([`content_coding::decode_all`]),
/// failing once the output would exceed `cap` bytes.
pub fn decode<'b>(
    bytes: &'b [u8],
    content_encoding: Option<&str>,
    cap: usize,
) -> Result<Cow<'b, [u8]>, BodyError> {
    content_coding::decode_all(bytes, content_encoding, cap).map_err(BodyError::from)
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
    /// More stacked codings than [`content_coding::MAX_STACKED_CODINGS`].
    #[error("content-encoding `{0}` stacks more than {max} codings", max = content_coding::MAX_STACKED_CODINGS)]
    TooManyCodings(String),
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

impl From<CodingError> for BodyError {
    fn from(error: CodingError) -> Self {
        match error {
            CodingError::Unsupported(coding) => BodyError::UnsupportedEncoding(coding),
            CodingError::TooManyCodings(header) => BodyError::TooManyCodings(header),
            CodingError::Corrupt { coding, reason } => BodyError::Corrupt {
                encoding: coding.to_string(),
                reason,
            },
            CodingError::TooLarge { cap } => BodyError::DecodedTooLarge { cap },
        }
    }
}

/// Parses a decoded body as JSON (duplicated keys: the last value, see [`json::parse`]).
pub fn parse_json(bytes: &[u8]) -> Result<Value, BodyError> {
    json::parse(bytes).map(|parsed| parsed.value)
}

#[cfg(test)]
mod tests {
    use super::*;

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
