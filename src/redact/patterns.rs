//! The scrubber's pattern set: for each secret, its raw, URL-encoded, JSON-escaped and base64
//! (standard and URL-safe, at every byte alignment) forms, each mapped to the placeholder in
//! the same form; matched together with one Aho-Corasick automaton.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::secret::SecretValue;

/// Shortest base64 fragment matched (shorter ones would hit unrelated text).
const MIN_BASE64_FRAGMENT: usize = 8;

/// The form in which a secret was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Raw,
    UrlEncoded,
    JsonEscaped,
    Base64,
}

/// How many replacements of each form were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedactionCounts {
    pub raw: u64,
    pub url_encoded: u64,
    pub json_escaped: u64,
    pub base64: u64,
    /// Rule redactions: pattern-set matches and masked JSON fields.
    pub patterns: u64,
}

impl RedactionCounts {
    pub fn add(&mut self, encoding: Encoding) {
        match encoding {
            Encoding::Raw => self.raw += 1,
            Encoding::UrlEncoded => self.url_encoded += 1,
            Encoding::JsonEscaped => self.json_escaped += 1,
            Encoding::Base64 => self.base64 += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.raw + self.url_encoded + self.json_escaped + self.base64
    }

    pub fn merge(&mut self, other: RedactionCounts) {
        self.raw += other.raw;
        self.url_encoded += other.url_encoded;
        self.json_escaped += other.json_escaped;
        self.base64 += other.base64;
        self.patterns += other.patterns;
    }
}

/// Secret forms and their replacements, compiled once per rule set.
#[derive(Debug, Default)]
pub struct Scrubber {
    automaton: Option<AhoCorasick>,
    replacements: Vec<Vec<u8>>,
    encodings: Vec<Encoding>,
    /// For each pattern, the index of the secret it came from (in the order given).
    owners: Vec<usize>,
    /// Longest pattern, in bytes: the most a stream may have to hold back between chunks.
    longest: usize,
    /// The patterns themselves: a stream holds back only a tail that could begin one.
    patterns: Vec<Vec<u8>>,
}

impl Scrubber {
    /// Builds the patterns for `(secret, placeholder)` pairs. Empty secrets are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a SecretValue, &'a str)>) -> Self {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut replacements = Vec::new();
        let mut encodings = Vec::new();
        let mut owners = Vec::new();
        for (owner, (secret, placeholder)) in secrets.into_iter().enumerate() {
            if secret.is_empty() {
                continue;
            }
            for (pattern, replacement, encoding) in forms(secret.expose(), placeholder.as_bytes()) {
                if !patterns.contains(&pattern) {
                    patterns.push(pattern);
                    replacements.push(replacement);
                    encodings.push(encoding);
                    owners.push(owner);
                }
            }
        }
        let longest = patterns.iter().map(Vec::len).max().unwrap_or(0);
        let automaton = if patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&patterns)
                .ok()
        };
        Self {
            automaton,
            replacements,
            encodings,
            owners,
            longest,
            patterns,
        }
    }

    /// The index (in the order given to [`Scrubber::new`]) of every secret found in `input`,
    /// in any of its forms, without duplicates.
    pub fn owners_found(&self, input: &[u8]) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        if let Some(ac) = &self.automaton {
            for m in ac.find_iter(input) {
                if let Some(owner) = self.owners.get(m.pattern().as_usize())
                    && !found.contains(owner)
                {
                    found.push(*owner);
                }
            }
        }
        found
    }

    /// A scrubber that knows no secret.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether there is nothing to scrub.
    pub fn is_empty(&self) -> bool {
        self.automaton.is_none()
    }

    /// Longest pattern length in bytes.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Length of the longest tail of `buf` that is a proper prefix of some pattern: the bytes
    /// a stream must hold back because the next chunk could complete a secret.
    pub(super) fn pending_prefix(&self, buf: &[u8]) -> usize {
        let most = self.longest.saturating_sub(1).min(buf.len());
        (1..=most)
            .rev()
            .find(|&k| {
                let tail = &buf[buf.len() - k..];
                self.patterns
                    .iter()
                    .any(|p| p.len() > k && p.starts_with(tail))
            })
            .unwrap_or(0)
    }

    pub(super) fn automaton(&self) -> Option<&AhoCorasick> {
        self.automaton.as_ref()
    }

    pub(super) fn replacement(&self, pattern: usize) -> (&[u8], Encoding) {
        (
            self.replacements
                .get(pattern)
                .map(Vec::as_slice)
                .unwrap_or(b"[redacted]"),
            self.encodings
                .get(pattern)
                .copied()
                .unwrap_or(Encoding::Raw),
        )
    }

    /// Scrubs a complete value (a header, a URL); borrowed when nothing matched.
    pub fn scrub<'b>(&self, input: &'b [u8], counts: &mut RedactionCounts) -> Cow<'b, [u8]> {
        let Some(ac) = &self.automaton else {
            return Cow::Borrowed(input);
        };
        let mut out: Option<Vec<u8>> = None;
        let mut last = 0;
        for m in ac.find_iter(input) {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len()));
            buf.extend_from_slice(&input[last..m.start()]);
            let (replacement, encoding) = self.replacement(m.pattern().as_usize());
            buf.extend_from_slice(replacement);
            counts.add(encoding);
            last = m.end();
        }
        match out {
            None => Cow::Borrowed(input),
            Some(mut buf) => {
                buf.extend_from_slice(&input[last..]);
                Cow::Owned(buf)
            }
        }
    }
}

/// Every form of `secret` with the same form of `placeholder`.
fn forms(secret: &[u8], placeholder: &[u8]) -> Vec<(Vec<u8>, Vec<u8>, Encoding)> {
    let mut out = vec![(secret.to_vec(), placeholder.to_vec(), Encoding::Raw)];
    if let (Ok(s), Ok(p)) = (
        std::str::from_utf8(secret),
        std::str::from_utf8(placeholder),
    ) {
        let url = utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
        if url != s {
            out.push((
                url.into_bytes(),
                utf8_percent_encode(p, NON_ALPHANUMERIC)
                    .to_string()
                    .into_bytes(),
                Encoding::UrlEncoded,
            ));
            // Lower-case hex escapes are as common as upper-case ones.
            let lower = lower_hex_escapes(&utf8_percent_encode(s, NON_ALPHANUMERIC).to_string());
            out.push((
                lower.into_bytes(),
                utf8_percent_encode(p, NON_ALPHANUMERIC)
                    .to_string()
                    .into_bytes(),
                Encoding::UrlEncoded,
            ));
        }
        if let (Ok(js), Ok(jp)) = (serde_json::to_string(s), serde_json::to_string(p)) {
            let js = js.trim_matches('"');
            if js != s {
                out.push((
                    js.as_bytes().to_vec(),
                    jp.trim_matches('"').as_bytes().to_vec(),
                    Encoding::JsonEscaped,
                ));
            }
            // Forward slashes may be escaped too (`\/`).
            let slashed = js.replace('/', "\\/");
            if slashed != js {
                out.push((
                    slashed.into_bytes(),
                    jp.trim_matches('"').as_bytes().to_vec(),
                    Encoding::JsonEscaped,
                ));
            }
        }
    }
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        for shift in 0..3 {
            if let Some(pair) = base64_fragment(&engine, secret, placeholder, shift) {
                out.push((pair.0, pair.1, Encoding::Base64));
            }
        }
    }
    out
}

/// The part of base64(`shift` unknown bytes + `secret` + unknown bytes) that depends only
/// on the secret, and the matching part of the placeholder's encoding at the same shift.
fn base64_fragment(
    engine: &base64::engine::GeneralPurpose,
    secret: &[u8],
    placeholder: &[u8],
    shift: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let middle = |bytes: &[u8]| -> Option<Vec<u8>> {
        // Skip the bytes that complete the leading group, keep whole 3-byte groups only.
        let skip = (3 - shift) % 3;
        let body = bytes.get(skip..)?;
        let whole = body.len() / 3 * 3;
        (whole > 0).then(|| engine.encode(&body[..whole]).into_bytes())
    };
    let pattern = middle(secret)?;
    if pattern.len() < MIN_BASE64_FRAGMENT {
        return None;
    }
    let replacement = middle(placeholder).unwrap_or_else(|| b"redacted".to_vec());
    Some((pattern, replacement))
}

fn lower_hex_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '%' {
            for _ in 0..2 {
                if let Some(h) = chars.next() {
                    out.push(h.to_ascii_lowercase());
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
