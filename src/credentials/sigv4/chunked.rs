//! The signed `aws-chunked` upload (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): each chunk
//! (`SIZE;chunk-signature=SIG\r\nDATA\r\n`, a zero-size chunk last) is signed with the
//! previous chunk's signature, the first with the header's. Every chunk signature is checked
//! against the placeholder key's chain and replaced by the real key's; the sizes stay, so the
//! body keeps its length.

use super::SigV4Error;
use super::canonical::{Scope, hex, hmac, sha256_hex};

/// The string-to-sign algorithm of a chunk.
const CHUNK_ALGORITHM: &str = "AWS4-HMAC-SHA256-PAYLOAD";
/// SHA-256 of the empty string (the "previous headers" hash every chunk signs).
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// Longest chunk header line accepted (`SIZE;chunk-signature=` and 64 hex digits).
const MAX_HEADER: usize = 128;

/// One key's chain of chunk signatures.
pub struct ChunkChain {
    pub signing_key: Vec<u8>,
    pub timestamp: String,
    pub scope: Scope,
    /// The signature the next chunk signs after (the seed: the request's signature).
    pub previous: String,
}

impl ChunkChain {
    /// The signature of the next chunk, `data`; it becomes the previous one.
    pub fn sign(&mut self, data: &[u8]) -> String {
        let to_sign = format!(
            "{CHUNK_ALGORITHM}\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.timestamp,
            self.scope.render(),
            self.previous,
            sha256_hex(data)
        );
        let signature = hex(&hmac(&self.signing_key, to_sign.as_bytes()));
        self.previous.clone_from(&signature);
        signature
    }
}

/// Checks every chunk of `body` against `agent`'s chain and returns the body with each
/// signature replaced by `real`'s.
pub fn resign_chunks(
    body: &[u8],
    agent: &mut ChunkChain,
    real: &mut ChunkChain,
) -> Result<Vec<u8>, SigV4Error> {
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let end = rest
            .iter()
            .take(MAX_HEADER)
            .position(|&b| b == b'\n')
            .filter(|&i| i > 0 && rest[i - 1] == b'\r')
            .ok_or(SigV4Error::Malformed("aws-chunked chunk header"))?;
        let line = std::str::from_utf8(&rest[..end - 1])
            .map_err(|_| SigV4Error::Malformed("aws-chunked chunk header"))?;
        let (size, signature) =
            line.split_once(";chunk-signature=")
                .ok_or(SigV4Error::Malformed(
                    "aws-chunked chunk without a signature",
                ))?;
        let len = usize::from_str_radix(size, 16)
            .map_err(|_| SigV4Error::Malformed("aws-chunked chunk size"))?;
        let data_start = end + 1;
        let data_end = data_start
            .checked_add(len)
            .filter(|&e| e.saturating_add(2) <= rest.len())
            .ok_or(SigV4Error::Malformed(
                "aws-chunked body ends inside a chunk",
            ))?;
        if &rest[data_end..data_end + 2] != b"\r\n" {
            return Err(SigV4Error::Malformed(
                "aws-chunked chunk not followed by CRLF",
            ));
        }
        let data = &rest[data_start..data_end];
        let expected = agent.sign(data);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            expected.as_bytes(),
            signature.as_bytes(),
        )) {
            return Err(SigV4Error::BadSignature);
        }
        out.extend_from_slice(format!("{size};chunk-signature={}\r\n", real.sign(data)).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        rest = &rest[data_end + 2..];
        if len == 0 {
            return if rest.is_empty() {
                Ok(out)
            } else {
                Err(SigV4Error::Malformed(
                    "bytes after the last aws-chunked chunk",
                ))
            };
        }
    }
}
