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

mod gzip;
mod stage;

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;
use http::header::CONTENT_ENCODING;

use stage::Stage;

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

/// One coding of a stack with the input it has not consumed yet.
struct Layer {
    stage: Stage,
    /// Input received; `pending[start..]` is not consumed yet (compacted now and then, so
    /// consuming a large buffered body stays linear).
    pending: Vec<u8>,
    start: usize,
    /// Whether any input reached this layer (an empty body is valid in every coding).
    fed: bool,
}

impl Layer {
    fn unconsumed(&self) -> &[u8] {
        self.pending.get(self.start..).unwrap_or_default()
    }

    fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.fed = true;
        if self.start > 0 && self.start >= self.pending.len() / 2 {
            self.pending.drain(..self.start);
            self.start = 0;
        }
        self.pending.extend_from_slice(bytes);
    }
}

/// A push decoder for a stack of codings: feed encoded bytes, take decoded bytes in bounded
/// steps.
pub struct Decoder {
    /// Layers in decoding order: `layers[0]` takes the bytes on the wire.
    layers: Vec<Layer>,
    /// Output of one step.
    scratch: Vec<u8>,
    /// Whether the last [`Decoder::decode`] stopped with work left (or input came since).
    more: bool,
    /// Bytes fed to a decoder with no coding, passed on as they are.
    identity: Vec<u8>,
}

impl Decoder {
    /// A decoder for `codings` in decoding order (as [`parse`] returns them).
    pub fn new(codings: &[Coding]) -> Result<Self, CodingError> {
        let layers = codings
            .iter()
            .map(|&coding| {
                Ok(Layer {
                    stage: Stage::new(coding)?,
                    pending: Vec::new(),
                    start: 0,
                    fed: false,
                })
            })
            .collect::<Result<_, CodingError>>()?;
        Ok(Self {
            layers,
            scratch: vec![0; STEP_OUTPUT],
            more: false,
            identity: Vec::new(),
        })
    }

    /// Queues encoded bytes.
    pub fn feed(&mut self, encoded: &[u8]) {
        match self.layers.first_mut() {
            Some(layer) => layer.push(encoded),
            None => self.identity.extend_from_slice(encoded),
        }
        self.more = true;
    }

    /// Whether decoding can go on without more input.
    pub fn has_pending(&self) -> bool {
        self.more
    }

    /// Decodes queued input until about `want` decoded bytes are ready or no coding can go
    /// on without more input.
    pub fn decode(&mut self, want: usize) -> Result<Vec<u8>, CodingError> {
        let mut out = Vec::new();
        while out.len() < want {
            let left = want - out.len();
            if !self.step(&mut out, left)? {
                self.more = false;
                return Ok(out);
            }
        }
        self.more = true;
        Ok(out)
    }

    /// Ends the stream: returns the remaining decoded bytes; errors when a coding's stream
    /// is truncated or followed by stray bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, CodingError> {
        let mut out = Vec::new();
        while self.step(&mut out, STEP_OUTPUT)? {}
        for layer in &self.layers {
            let coding = layer.stage.coding();
            if !layer.unconsumed().is_empty() {
                return Err(corrupt(coding, "truncated stream"));
            }
            if layer.fed && !layer.stage.is_complete() {
                return Err(corrupt(coding, "truncated stream"));
            }
        }
        Ok(out)
    }

    /// Runs one layer once, the innermost one that can go on (draining later layers first
    /// keeps what sits between layers small). Returns whether anything moved.
    fn step(&mut self, out: &mut Vec<u8>, want: usize) -> Result<bool, CodingError> {
        if !self.identity.is_empty() {
            let take = want.min(self.identity.len());
            out.extend(self.identity.drain(..take));
            return Ok(take > 0);
        }
        let last = self.layers.len().saturating_sub(1);
        for index in (0..self.layers.len()).rev() {
            let room = if index == last {
                want.min(self.scratch.len())
            } else {
                self.scratch.len()
            };
            let Some(layer) = self.layers.get_mut(index) else {
                continue;
            };
            let Some(scratch) = self.scratch.get_mut(..room) else {
                continue;
            };
            let input = layer.pending.get(layer.start..).unwrap_or_default();
            let coding = layer.stage.coding();
            let (consumed, produced) = layer
                .stage
                .run(input, scratch)
                .map_err(|reason| corrupt(coding, &reason))?;
            layer.start += consumed;
            if consumed == 0 && produced == 0 {
                continue;
            }
            let decoded = self.scratch.get(..produced).unwrap_or_default();
            match self.layers.get_mut(index + 1) {
                Some(next) => next.push(decoded),
                None => out.extend_from_slice(decoded),
            }
            return Ok(true);
        }
        Ok(false)
    }
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
