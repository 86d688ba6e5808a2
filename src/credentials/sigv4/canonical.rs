//! SigV4's canonical request, string to sign, signing key and signature, written to match
//! botocore byte for byte: S3 signs the path as sent, other services its normalised,
//! once-more-encoded form; the query is decoded and re-encoded with AWS's URI encoding and
//! sorted; header values are trimmed with inner runs of spaces collapsed.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name in `Authorization` and `X-Amz-Algorithm`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// SHA-256 of the empty string, in hex (the payload hash of a bodiless request).
#[cfg(test)]
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The credential scope: date, region, service (`20150830/us-east-1/iam/aws4_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    /// `date/region/service/aws4_request`.
    pub fn render(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What a signature covers, apart from the key.
pub struct Signed<'a> {
    pub method: &'a str,
    /// The path as it appears on the wire (still percent-encoded).
    pub path: &'a str,
    /// The query pairs as they appear on the wire (`X-Amz-Signature` left out).
    pub query: &'a [(String, String)],
    /// The signed headers, lower-case names in `SignedHeaders` order, with their values.
    pub headers: &'a [(String, String)],
    pub payload_hash: &'a str,
    /// `X-Amz-Date`.
    pub timestamp: &'a str,
    pub scope: &'a Scope,
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; this arm is never reached.
        Err(_) => Vec::new(),
    }
}

/// The signing key derived from the secret access key for `scope`.
pub fn signing_key(secret: &[u8], scope: &Scope) -> Vec<u8> {
    let mut start = b"AWS4".to_vec();
    start.extend_from_slice(secret);
    let k = hmac(&start, scope.date.as_bytes());
    let k = hmac(&k, scope.region.as_bytes());
    let k = hmac(&k, scope.service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The canonical request.
pub fn canonical_request(s: &Signed<'_>) -> String {
    let path = canonical_path(s.path, &s.scope.service);
    let query = canonical_query(s.query);
    let mut headers: Vec<(&str, String)> = s
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_headers: String = headers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
    format!(
        "{}\n{path}\n{query}\n{canonical_headers}\n{}\n{}",
        s.method,
        names.join(";"),
        s.payload_hash
    )
}

/// The string to sign for `canonical`.
pub fn string_to_sign(s: &Signed<'_>, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        s.timestamp,
        s.scope.render(),
        sha256_hex(canonical.as_bytes())
    )
}

/// The hex signature of `s` under the secret access key `secret`.
pub fn signature(s: &Signed<'_>, secret: &[u8]) -> String {
    let canonical = canonical_request(s);
    let to_sign = string_to_sign(s, &canonical);
    hex(&hmac(&signing_key(secret, s.scope), to_sign.as_bytes()))
}

/// S3 signs the path as sent; the other services sign it with dot segments and empty
/// segments resolved, then encoded once more (`%` becomes `%25`).
fn canonical_path(path: &str, service: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if service.starts_with("s3") {
        return path.to_owned();
    }
    uri_encode(&normalise_path(path), false)
}

/// RFC 3986 dot-segment removal, as Python's `posixpath.normpath` applies it in botocore
/// (duplicate slashes merged; the trailing slash kept).
fn normalise_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut normal = format!("/{}", out.join("/"));
    if path.ends_with('/') && normal != "/" {
        normal.push('/');
    }
    normal
}

/// The query sorted by encoded name then value, each decoded once and re-encoded.
fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (reencode(k), reencode(v)))
        .collect();
    encoded.sort();
    let joined: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
    joined.join("&")
}

/// A query component decoded once and encoded with AWS's URI encoding.
fn reencode(component: &str) -> String {
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(component).collect();
    uri_encode_bytes(&decoded, true)
}

/// AWS's URI encoding: unreserved characters as they are, everything else `%XX` (upper-case
/// hex); `/` too when `slash`.
pub fn uri_encode(text: &str, slash: bool) -> String {
    uri_encode_bytes(text.as_bytes(), slash)
}

fn uri_encode_bytes(bytes: &[u8], slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !slash)
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query string as `name=value` pairs in wire form (a pair without `=` has an empty
/// value).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    if query.is_empty() {
        return Vec::new();
    }
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (pair.to_owned(), String::new()),
        })
        .collect()
}
