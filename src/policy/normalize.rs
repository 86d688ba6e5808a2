//! Request-target normalisation: the one canonical form every rule is matched against.
//!
//! Choices (each tested below, documented in `docs/rules.md`):
//! - the host is lower-cased and IDNA-normalised (UTS-46, to ASCII/punycode), one trailing
//!   dot is removed, IPv6 literals are bracketed and written canonically;
//! - the port is kept as given (callers fill the scheme's default port: https 443, http 80);
//! - the path is percent-decoded exactly once, segment by segment;
//! - `.` and `..` segments (also written `%2e`, `%2E%2e`, `..;`, `.;x`), encoded slashes
//!   (`%2F`), encoded or raw backslashes, `%25` before the escape of `.`, `/` or `\`
//!   (`%252e`: servers that decode twice read a dot), malformed escapes and non-UTF-8 paths
//!   are refused (the proxy answers 400) rather than resolved: a path that means something
//!   different to the upstream than to the rules must never be decided;
//! - empty segments (`/a//b`) and `;` parameters are kept and reported in
//!   [`NormalizedTarget::spellings`]: the host's rules decide whether they are refused (see
//!   [`spelling`](super::spelling)).

use std::net::Ipv6Addr;

use crate::policy::spelling::Spellings;

/// A normalised request target: host, port and path in the one form rules match. Named
/// apart from [`crate::target::Target`], the parsed `host:port` a connection is pinned to,
/// which has no path and is not normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedTarget {
    /// Lower-case ASCII host (punycode for IDNs), no trailing dot; IPv6 as `[addr]`.
    pub host: String,
    /// The port the request goes to.
    pub port: u16,
    /// The path decoded once, starting with `/`.
    pub path: String,
    /// The decoded path split on `/` after the leading slash (`/` gives one empty segment).
    pub segments: Vec<String>,
    /// Spellings in the path that servers read differently (empty segments, parameters).
    pub spellings: Spellings,
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
    /// `%25` before the escape of `.`, `/` or `\`: a second decoding gives another path.
    #[error(
        "path `{0}` is encoded twice (`%25` before an escaped `.`, `/` or `\\`), which servers that decode twice read as another path"
    )]
    DoubleEncoded(String),
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
pub fn normalize_target(
    host: &str,
    port: u16,
    path: &str,
) -> Result<NormalizedTarget, NormalizeError> {
    let host = normalize_host(host)?;
    if port == 0 {
        return Err(NormalizeError::Port);
    }
    let (path, segments) = normalize_path(path)?;
    let spellings = Spellings::of(&segments);
    Ok(NormalizedTarget {
        host,
        port,
        path,
        segments,
        spellings,
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
    if is_double_encoded(raw) {
        return Err(NormalizeError::DoubleEncoded(raw.to_owned()));
    }
    let mut segments = Vec::new();
    let mut path = String::with_capacity(raw.len());
    for raw_segment in rest.split('/') {
        let segment = decode_segment(raw_segment, raw)?;
        let bare = crate::policy::spelling::strip_parameters(&segment);
        if bare == "." || bare == ".." {
            return Err(NormalizeError::DotSegment(raw.to_owned()));
        }
        path.push('/');
        path.push_str(&segment);
        segments.push(segment);
    }
    Ok((path, segments))
}

/// `%25` followed by the escape of `.`, `/` or `\` (`%252e`, `%252F`, `%255c`, any case).
fn is_double_encoded(raw: &str) -> bool {
    raw.as_bytes().windows(5).any(|w| {
        w.get(..3) == Some(b"%25")
            && matches!(
                (
                    w.get(3).map(u8::to_ascii_lowercase),
                    w.get(4).map(u8::to_ascii_lowercase)
                ),
                (Some(b'2'), Some(b'e' | b'f')) | (Some(b'5'), Some(b'c'))
            )
    })
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
        assert_eq!(path("/x/%2541/y").unwrap(), "/x/%41/y");
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
    fn duplicate_slashes_are_kept_and_reported() {
        let t = normalize_target("a.com", 80, "/a//b/").unwrap();
        assert_eq!(t.segments, vec!["a", "", "b", ""]);
        assert!(t.spellings.empty_segments && !t.spellings.parameters);
        let root = normalize_target("a.com", 80, "/").unwrap();
        assert_eq!(root.segments, vec![""]);
        assert_eq!(root.spellings, Spellings::default());
        let trailing = normalize_target("a.com", 80, "/a/b/").unwrap();
        assert!(
            !trailing.spellings.empty_segments,
            "a trailing slash is not ambiguous"
        );
        assert!(
            normalize_target("a.com", 80, "//admin")
                .unwrap()
                .spellings
                .empty_segments
        );
    }

    #[test]
    fn path_parameters_are_kept_and_reported() {
        for p in ["/a/admin;x=y", "/a;/b", "/a/b%3Bc"] {
            let t = normalize_target("a.com", 443, p).unwrap();
            assert!(t.spellings.parameters, "{p}");
            assert!(!t.spellings.empty_segments, "{p}");
        }
        assert_eq!(path("/a;x=y").unwrap(), "/a;x=y");
    }

    #[test]
    fn dot_segments_with_parameters_are_refused() {
        for p in [
            "/a/..;/b",
            "/a/..;x=1/b",
            "/a/.;/b",
            "/a/..%3b/b",
            "/a/%2e%2e;/b",
        ] {
            assert!(matches!(path(p), Err(NormalizeError::DotSegment(_))), "{p}");
        }
        assert!(path("/a/..x;/b").is_ok());
    }

    #[test]
    fn double_encoded_dots_slashes_and_backslashes_are_refused() {
        for p in [
            "/x/%252e%252e/y",
            "/x/%252E/y",
            "/x%252fy",
            "/x%252Fy",
            "/x%255cy",
            "/x%255C..",
            "/%252e",
        ] {
            assert!(
                matches!(path(p), Err(NormalizeError::DoubleEncoded(_))),
                "{p}: {:?}",
                path(p)
            );
        }
        // `%25` before anything else decodes once to a literal `%`.
        assert_eq!(path("/a%2520b").unwrap(), "/a%20b");
        assert_eq!(path("/a%25").unwrap(), "/a%");
    }

    #[test]
    fn path_case_is_preserved() {
        assert_eq!(path("/Repos/ACME").unwrap(), "/Repos/ACME");
    }
}
