//! HTTP content codings (`Content-Encoding`, RFC 9110 §8.4): the one decoder behind request
//! inspection and response redaction, with one set of caps against decompression bombs.
//!
//! - `gzip` / `x-gzip` (multi-member, CRC checked), `deflate` (zlib-wrapped as RFC 9110 says,
//!   or raw as some servers send, told apart by the first two bytes), `br` (standard window,
//!   at most 16 MiB), `zstd` (window at most [`ZSTD_WINDOW_LOG_MAX`]); `identity` and empty
//!   list entries are skipped;
//! - stacked codings (`gzip, br`) are undone in reverse order, at most
//!   [`MAX_STACKED_CODINGS`] of them; any other coding is an error;
//! - decoding is a push stream: each step writes at most [`STEP_OUTPUT`] bytes per coding, so
//!   a bomb never expands into more than a bounded amount of memory at once; a buffered body
//!   ([`decode_all`]) also stops at a total cap, [`decoded_cap`] of its input limit.

mod decoder;
#[cfg(test)]
pub(crate) mod encode;
mod gzip;
mod stage;

pub use decoder::Decoder;

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;
use http::header::CONTENT_ENCODING;

/// Most codings one body may stack: real servers send one; two covers a compressing proxy
/// in front of a compressing app. More is refused rather than decoded (each layer multiplies
/// the expansion).
pub const MAX_STACKED_CODINGS: usize = 2;

/// zstd window limit, 2^23 = 8 MiB: the most RFC 9659 lets an HTTP zstd encoder use, and
/// what bounds the decoder's memory whatever a frame claims. Larger windows are refused.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Most decoded bytes one decoding step produces per coding: bounds the memory a streamed
/// body holds at once, whatever its compression ratio.
pub const STEP_OUTPUT: usize = 64 * 1024;

/// A buffered body may decode to at most this many times its input limit…
pub const DECODED_SIZE_FACTOR: usize = 8;

/// …and never more than this, whatever the factor gives (bounds memory per body).
pub const MAX_DECODED_SIZE: usize = 64 * 1024 * 1024;

/// The decoded-size cap of a buffered body whose encoded size is limited to `input_limit`.
pub fn decoded_cap(input_limit: usize) -> usize {
    input_limit
        .saturating_mul(DECODED_SIZE_FACTOR)
        .min(MAX_DECODED_SIZE)
        .max(input_limit)
}

/// A content coding keyward decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl fmt::Display for Coding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        })
    }
}

/// Why a body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodingError {
    /// A coding keyward cannot decode (named as the header spells it, lowercased).
    #[error("unsupported content-encoding `{0}`")]
    Unsupported(String),
    /// More than [`MAX_STACKED_CODINGS`] codings in one header.
    #[error("content-encoding `{0}` stacks more than {max} codings", max = MAX_STACKED_CODINGS)]
    TooManyCodings(String),
    /// The bytes are not valid for their coding (or end before it does).
    #[error("not valid {coding}: {reason}")]
    Corrupt {
        /// The coding being decoded.
        coding: Coding,
        /// The decoder's complaint.
        reason: String,
    },
    /// A buffered body decoded past its cap: a likely decompression bomb.
    #[error("decoded body exceeds {cap} bytes (decompression bomb?)")]
    TooLarge {
        /// The cap that was exceeded.
        cap: usize,
    },
}

/// Every `Content-Encoding` line of `headers` as one list (`None` when there is none), the
/// lines joined as RFC 9110 §5.3 says; bytes that are not UTF-8 are kept as replacement
/// characters so the value fails to parse instead of reading as absent.
pub fn header_list(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut values = headers.get_all(CONTENT_ENCODING).iter();
    let first = values.next()?;
    let mut list = String::from_utf8_lossy(first.as_bytes());
    for value in values {
        let joined = list.to_mut();
        joined.push_str(", ");
        joined.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    Some(list)
}

/// Parses a `Content-Encoding` list into the codings to undo, in decoding order (the last
/// one applied first). Empty when absent or identity only.
pub fn parse(header: Option<&str>) -> Result<Vec<Coding>, CodingError> {
    let Some(header) = header else {
        return Ok(Vec::new());
    };
    let mut codings = Vec::new();
    for entry in header.split(',').rev() {
        let coding = match entry.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => continue,
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            "br" => Coding::Brotli,
            "zstd" => Coding::Zstd,
            other => return Err(CodingError::Unsupported(other.to_owned())),
        };
        if codings.len() == MAX_STACKED_CODINGS {
            return Err(CodingError::TooManyCodings(header.trim().to_owned()));
        }
        codings.push(coding);
    }
    Ok(codings)
}

/// Decodes a whole buffered body per its `Content-Encoding` list, failing once the output
/// would exceed `cap` bytes. Identity borrows.
pub fn decode_all<'b>(
    bytes: &'b [u8],
    header: Option<&str>,
    cap: usize,
) -> Result<Cow<'b, [u8]>, CodingError> {
    let codings = parse(header)?;
    if codings.is_empty() {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut decoder = Decoder::new(&codings)?;
    decoder.feed(bytes);
    let mut out = Vec::new();
    while decoder.has_pending() {
        let room = cap.saturating_add(1).saturating_sub(out.len());
        out.extend(decoder.decode(room.min(STEP_OUTPUT))?);
        if out.len() > cap {
            return Err(CodingError::TooLarge { cap });
        }
    }
    out.extend(decoder.finish()?);
    if out.len() > cap {
        return Err(CodingError::TooLarge { cap });
    }
    Ok(Cow::Owned(out))
}

/// A decoder error naming the coding.
fn corrupt(coding: Coding, reason: &str) -> CodingError {
    CodingError::Corrupt {
        coding,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;
