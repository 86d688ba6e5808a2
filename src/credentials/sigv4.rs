//! AWS Signature Version 4 credentials (secret kind `aws`): the agent holds a placeholder key
//! pair and signs with it; keyward checks that signature, so a request altered after signing
//! or signed with another key is refused, then signs the same request again with the real
//! key. Covers the `Authorization` header and presigned-URL forms, signed, unsigned and
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` payloads, and signed `aws-chunked` uploads whose
//! chunks are checked and signed again one by one.

mod canonical;
mod chunked;
mod keys;
mod presigned;
mod resign;

pub use canonical::{ALGORITHM, Scope, Signed, sha256_hex, signature};
pub use keys::{AwsKeys, AwsPlaceholders, KeysError};
pub use resign::{AwsRequest, Body, Resigned, resign};

/// Why an AWS-signed request was refused. Never contains a key or signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("malformed AWS signature: {0}")]
    Malformed(&'static str),
    #[error("AWS signature algorithm `{0}` is not supported (only AWS4-HMAC-SHA256)")]
    Algorithm(String),
    #[error("the AWS signature does not match the request (tampered, or signed with another key)")]
    BadSignature,
    #[error("x-amz-content-sha256 does not match the request body")]
    PayloadMismatch,
    #[error(
        "a signed payload needs the whole body, and it is larger than the {0} bytes keyward read ahead"
    )]
    BodyTooLarge(usize),
    #[error("AWS payload form `{0}` is not supported")]
    PayloadForm(String),
    #[error("x-amz-security-token is not the placeholder session token")]
    SessionToken,
    #[error("signed header {0} is missing or not text")]
    Header(String),
    #[error("the AWS credentials are not usable: {0}")]
    Keys(#[from] KeysError),
}

impl SigV4Error {
    /// Whether the agent's request itself is at fault (a bad or tampered signature), as
    /// opposed to a form keyward does not handle or credentials that do not parse.
    pub fn is_bad_signature(&self) -> bool {
        matches!(
            self,
            SigV4Error::BadSignature | SigV4Error::PayloadMismatch | SigV4Error::SessionToken
        )
    }
}

#[cfg(test)]
mod tests;
