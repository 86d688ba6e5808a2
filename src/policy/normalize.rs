//! Request-target normalisation: the one canonical form every rule is matched against.
//!
//! Choices (each tested below, documented in `docs/rules.md`):
//! - the host is lower-cased and IDNA-normalised (UTS-46, to ASCII/punycode), one trailing
//!   dot is removed, IPv6 literals are bracketed and written canonically;
//! - the port is kept as given (callers fill the scheme's default port: https 443, http 80);
//! - the path is percent-decoded exactly once, segment by segment; a `%252e` becomes the
//!   literal text `%2e` and is matched as such (never decoded twice);
//! - `.` and `..` segments (also written `%2e`, `%2E%2e`, …), encoded slashes (`%2F`),
//!   encoded or raw backslashes, malformed escapes and non-UTF-8 paths are refused
//!   (the proxy answers 400) rather than resolved: a path that means something different to
//!   the upstream than to the rules must never be decided;
//! - duplicate slashes are kept (`/a//b` has an empty segment and does not match `/a/b`).

use std::net::Ipv6Addr;

/// A normalised request target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Lower-case ASCII host (punycode for IDNs), no trailing dot; IPv6 as `[addr]`.
    pub host: String,
    /// The port the request goes to.
    pub port: u16,
    /// The path decoded once, starting with `/`.
    pub path: String,
    /// The decoded path split on `/` after the leading slash (`/` gives one empty segment).
    pub segments: Vec<String>,
}

/// Why a request target cannot be decided (the proxy answers 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NormalizeError {
    /// The host is empty or not a valid (internationalised) domain name or IP literal.
    #[error("invalid host `{0}`")]
    Host(String),
    /// Port 0 is never a destination.
    #[error("invalid port 0")]
    Port,
    /// The path is not in origin form (`/…`).
    #[error("path `{0}` does not start with `/`")]
    NotOriginForm(String),
    /// A `.` or `..` segment, possibly percent-encoded.
    #[error("path `{0}` contains a dot segment")]
    DotSegment(String),
    /// `%2F` inside a segment.
    #[error("path `{0}` contains an encoded slash")]
    EncodedSlash(String),
    /// A raw or encoded backslash.
    #[error("path `{0}` contains a backslash")]
    Backslash(String),
    /// `%` not followed by two hex digits.
    #[error("path `{0}` contains a malformed percent escape")]
    BadEscape(String),
    /// Decoded bytes that are not UTF-8.
    #[error("path `{0}` is not UTF-8 once decoded")]
    NotUtf8(String),
}

/// Normalises a request target; used by `decide` and by the proxy (400 on `Err`).
pub fn normalize_target(host: &str, port: u16, path: &str) -> Result<Target, NormalizeError> {
    let host = normalize_host(host)?;
    if port == 0 {
        return Err(NormalizeError::Port);
    }
    let (path, segments) = normalize_path(path)?;
    Ok(Target {
        host,
        port,
        path,
        segments,
    })
}

/// Lower-cases and IDNA-normalises a host, removing one trailing dot.
pub fn normalize_host(host: &str) -> Result<String, NormalizeError> {
    let bad = || NormalizeError::Host(host.to_owned());
    let trimmed = host.strip_suffix('.').unwrap_or(host);
    if trimmed.is_empty() {
        return Err(bad());
    }
    let inner = trimmed
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(trimmed);
    if inner.contains(':') {
        return inner
            .parse::<Ipv6Addr>()
            .map(|ip| format!("[{ip}]"))
            .map_err(|_| bad());
    }
    if is_ascii_host(trimmed, false) {
        return Ok(trimmed.to_ascii_lowercase());
    }
    match idna::domain_to_ascii(trimmed) {
        Ok(ascii) if is_ascii_host(&ascii, true) => Ok(ascii),
        _ => Err(bad()),
    }
}

/// A host made only of ASCII letters, digits, `-`, `_` and dots, without empty labels.
/// Punycode (`xn--`) labels are accepted only when `punycode` is set: on the fast path they
/// go through IDNA so that invalid punycode is refused.
fn is_ascii_host(host: &str, punycode: bool) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && (punycode
                    || !label
                        .get(..4)
                        .is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Decodes the path once and checks every segment.
fn normalize_path(raw: &str) -> Result<(String, Vec<String>), NormalizeError> {
    let Some(rest) = raw.strip_prefix('/') else {
        return Err(NormalizeError::NotOriginForm(raw.to_owned()));
    };
    if raw.contains('\\') {
        return Err(NormalizeError::Backslash(raw.to_owned()));
    }
    let mut segments = Vec::new();
    let mut path = String::with_capacity(raw.len());
    for raw_segment in rest.split('/') {
        let segment = decode_segment(raw_segment, raw)?;
        if segment == "." || segment == ".." {
            return Err(NormalizeError::DotSegment(raw.to_owned()));
        }
        path.push('/');
        path.push_str(&segment);
        segments.push(segment);
    }
    Ok((path, segments))
}

/// Percent-decodes one segment exactly once.
fn decode_segment(segment: &str, whole: &str) -> Result<String, NormalizeError> {
    if !segment.contains('%') {
        return Ok(segment.to_owned());
    }
    let bytes = percent_decode_strict(segment.as_bytes())
        .ok_or_else(|| NormalizeError::BadEscape(whole.to_owned()))?;
    if bytes.contains(&b'/') {
        return Err(NormalizeError::EncodedSlash(whole.to_owned()));
    }
    if bytes.contains(&b'\\') {
        return Err(NormalizeError::Backslash(whole.to_owned()));
    }
    String::from_utf8(bytes).map_err(|_| NormalizeError::NotUtf8(whole.to_owned()))
}

/// Decodes `%XX` escapes; `None` when a `%` is not followed by two hex digits.
pub(crate) fn percent_decode_strict(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let byte = input.get(i).copied()?;
        if byte == b'%' {
            let hi = hex_value(*input.get(i + 1)?)?;
            let lo = hex_value(*input.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    Some(out)
}

/// The value of one hex digit.
fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn path(p: &str) -> Result<String, NormalizeError> {
        normalize_target("example.com", 443, p).map(|t| t.path)
    }

    #[test]
    fn host_is_lower_cased_and_trailing_dot_removed() {
        let t = normalize_target("API.GitHub.COM.", 443, "/").unwrap();
        assert_eq!(t.host, "api.github.com");
    }

    #[test]
    fn idn_host_becomes_punycode() {
        assert_eq!(
            normalize_host("Bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            normalize_host("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        // Full-width letters fold to ASCII under UTS-46.
        assert_eq!(normalize_host("ＥＸＡＭＰＬＥ.com").unwrap(), "example.com");
    }

    #[test]
    fn bad_hosts_are_refused() {
        for host in ["", ".", "a..b", "exa mple.com", "[::1", "xn--zz--.example"] {
            assert!(normalize_host(host).is_err(), "{host}");
        }
    }

    #[test]
    fn ip_literals_are_canonical() {
        assert_eq!(normalize_host("[0:0::1]").unwrap(), "[::1]");
        assert_eq!(normalize_host("::1").unwrap(), "[::1]");
        assert_eq!(normalize_host("127.0.0.1").unwrap(), "127.0.0.1");
    }

    #[test]
    fn port_zero_is_refused() {
        assert_eq!(normalize_target("a.com", 0, "/"), Err(NormalizeError::Port));
    }

    #[test]
    fn path_is_decoded_once() {
        assert_eq!(path("/a%20b/c").unwrap(), "/a b/c");
        assert_eq!(path("/x/%252e%252e/y").unwrap(), "/x/%2e%2e/y");
        assert_eq!(path("/%E2%82%AC").unwrap(), "/€");
    }

    #[test]
    fn dot_segments_are_refused_even_encoded() {
        for p in [
            "/a/../b",
            "/a/./b",
            "/a/%2e%2e/b",
            "/a/%2E%2e",
            "/.",
            "/a/%2e",
        ] {
            assert!(matches!(path(p), Err(NormalizeError::DotSegment(_))), "{p}");
        }
        assert!(path("/a/.../b").is_ok());
        assert!(path("/a/.x").is_ok());
    }

    #[test]
    fn encoded_slashes_and_backslashes_are_refused() {
        assert!(matches!(
            path("/a%2Fb"),
            Err(NormalizeError::EncodedSlash(_))
        ));
        assert!(matches!(
            path("/a%2fb"),
            Err(NormalizeError::EncodedSlash(_))
        ));
        assert!(matches!(path("/a%5Cb"), Err(NormalizeError::Backslash(_))));
        assert!(matches!(path("/a\\b"), Err(NormalizeError::Backslash(_))));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert!(matches!(path("/a%zz"), Err(NormalizeError::BadEscape(_))));
        assert!(matches!(path("/a%2"), Err(NormalizeError::BadEscape(_))));
        assert!(matches!(path("/%ff"), Err(NormalizeError::NotUtf8(_))));
        assert!(matches!(path("a/b"), Err(NormalizeError::NotOriginForm(_))));
        assert!(matches!(path("*"), Err(NormalizeError::NotOriginForm(_))));
    }

    #[test]
    fn duplicate_slashes_are_kept() {
        let t = normalize_target("a.com", 80, "/a//b/").unwrap();
        assert_eq!(t.segments, vec!["a", "", "b", ""]);
        assert_eq!(
            normalize_target("a.com", 80, "/").unwrap().segments,
            vec![""]
        );
    }

    #[test]
    fn path_case_is_preserved() {
        assert_eq!(path("/Repos/ACME").unwrap(), "/Repos/ACME");
    }
}
