//! The scrubber's pattern set: for each secret, every spelling of it in text (each character
//! raw, percent-encoded or JSON-escaped, see `spelling`) and its base64 fragments (standard
//! and URL-safe, at every byte alignment), each replaced by the placeholder in the same form;
//! all matched in one pass by one multi-pattern regex.
//!
//! Why `regex-automata`'s meta regex and not the Aho-Corasick automaton used before: a
//! secret of n characters has about 5^n spellings once each character may be raw, `%XX` or
//! `\u00XX` in either hex case, far too many to list as literals, while as a regex each
//! character is one small alternation and the set grows linearly with the secrets. The
//! meta regex runs it as a lazy DFA (one table lookup per byte) behind a literal prefilter
//! extracted from the patterns' first bytes, so throughput stays that of a DFA scan.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;

use super::counts::{Encoding, RedactionCounts};
use super::spelling::Spelled;
use crate::secret::SecretValue;
use built_from::BuiltFrom;

/// Shortest base64 fragment matched (shorter ones would hit unrelated text).
const MIN_BASE64_FRAGMENT: usize = 8;

/// What one pattern of the regex stands for.
#[derive(Debug)]
enum Form {
    /// Every text spelling of a secret; replaced by the placeholder raw, percent-encoded or
    /// JSON-escaped, after the family the match used.
    Spelled {
        spelled: Spelled,
        raw: Vec<u8>,
        url: Vec<u8>,
        json: Vec<u8>,
    },
    /// A base64 fragment of a secret and the placeholder's fragment at the same alignment.
    Base64 {
        fragment: Vec<u8>,
        replacement: Vec<u8>,
    },
}

#[derive(Debug)]
struct Pattern {
    /// The index of the secret it came from (in the order given).
    owner: usize,
    form: Form,
}

/// One replacement to make: `start..end` of the haystack becomes `replacement`.
pub(super) struct Found<'s> {
    pub start: usize,
    pub end: usize,
    pub owner: usize,
    pub replacement: &'s [u8],
    pub encoding: Encoding,
}

/// Secret forms and their replacements, compiled once per rule set.
#[derive(Debug, Default)]
pub struct Scrubber {
    regex: Option<Regex>,
    /// The patterns did not compile: nothing could be told apart, so every scrubbed value
    /// is withheld whole (fail closed) and every guarded value counts as carrying a secret.
    broken: bool,
    /// Indexed by the regex's pattern id.
    patterns: Vec<Pattern>,
    /// Longest text any pattern matches, in bytes: the most a stream may have to hold back
    /// between chunks (a `\u00XX` spelling is 6 bytes per character).
    longest: usize,
    /// Bytes some pattern can begin with (256 entries; empty when there is no pattern): a
    /// stream's tail is checked only from such a byte on.
    starts: Vec<bool>,
    /// Digests of the `(secret, placeholder)` pairs it was built from.
    built_from: BuiltFrom,
}

impl Scrubber {
    /// Builds the patterns for `(secret, placeholder)` pairs. Empty secrets are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a SecretValue, &'a str)>) -> Self {
        let given: Vec<(&[u8], &str)> = secrets.into_iter().map(|(s, p)| (s.expose(), p)).collect();
        let built_from = BuiltFrom::new(&given);
        let mut secrets: Vec<(usize, &[u8], &str)> = given
            .into_iter()
            .enumerate()
            .filter(|(_, (s, _))| !s.is_empty())
            .map(|(owner, (s, p))| (owner, s, p))
            .collect();
        // Leftmost-first: where one secret begins another, the longer one is tried first.
        secrets.sort_by_key(|(_, s, _)| std::cmp::Reverse(s.len()));
        let mut patterns = Vec::new();
        let mut seen: Vec<&[u8]> = Vec::new();
        for &(owner, secret, placeholder) in &secrets {
            if seen.contains(&secret) {
                continue;
            }
            seen.push(secret);
            patterns.push(Pattern {
                owner,
                form: Form::Spelled {
                    spelled: Spelled::new(secret),
                    raw: placeholder.as_bytes().to_vec(),
                    url: utf8_percent_encode(placeholder, NON_ALPHANUMERIC)
                        .to_string()
                        .into_bytes(),
                    json: json_inner(placeholder),
                },
            });
        }
        let mut fragments: Vec<Vec<u8>> = Vec::new();
        for &(owner, secret, placeholder) in &secrets {
            for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
                for shift in 0..3 {
                    if let Some((fragment, replacement)) =
                        base64_fragment(&engine, secret, placeholder.as_bytes(), shift)
                        && !fragments.contains(&fragment)
                    {
                        fragments.push(fragment.clone());
                        patterns.push(Pattern {
                            owner,
                            form: Form::Base64 {
                                fragment,
                                replacement,
                            },
                        });
                    }
                }
            }
        }
        let longest = patterns.iter().map(Pattern::longest).max().unwrap_or(0);
        let mut starts = Vec::new();
        if !patterns.is_empty() {
            starts = vec![false; 256];
            for p in &patterns {
                for b in p.first_bytes() {
                    if let Some(s) = starts.get_mut(usize::from(b)) {
                        *s = true;
                    }
                }
            }
        }
        let regex = compile(&patterns);
        Self {
            broken: regex.is_none() && !patterns.is_empty(),
            regex,
            patterns,
            longest,
            starts,
            built_from,
        }
    }

    /// Whether `secret` is one of the secrets this scrubber was built from (so it finds it
    /// in every form), or the patterns did not compile and everything is withheld anyway.
    pub fn covers(&self, secret: &[u8]) -> bool {
        !secret.is_empty() && (self.broken || self.built_from.has_secret(secret))
    }

    /// Whether this scrubber was built from exactly these pairs, in this order: a refresh
    /// that finds the same values keeps it rather than compiling the same regex again.
    pub fn is_built_from<'a>(
        &self,
        secrets: impl IntoIterator<Item = (&'a SecretValue, &'a str)>,
    ) -> bool {
        let given: Vec<(&[u8], &str)> = secrets.into_iter().map(|(s, p)| (s.expose(), p)).collect();
        self.built_from.is(&given)
    }

    /// The index (in the order given to [`Scrubber::new`]) of every secret found in `input`,
    /// in any of its forms, without duplicates.
    pub fn owners_found(&self, input: &[u8]) -> Vec<usize> {
        let mut found: Vec<usize> = Vec::new();
        for m in self.matches(input) {
            if !found.contains(&m.owner) {
                found.push(m.owner);
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
        self.regex.is_none() && !self.broken
    }

    /// Longest match length in bytes, over every spelling.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Length of the longest tail of `buf` that is a proper prefix of some pattern: the bytes
    /// a stream must hold back because the next chunk could complete a secret (or make a
    /// match at its end longer).
    pub(super) fn pending_prefix(&self, buf: &[u8]) -> usize {
        let most = self.longest.saturating_sub(1).min(buf.len());
        let from = buf.len() - most;
        (from..buf.len())
            .find(|&start| {
                self.starts.get(usize::from(buf[start])) == Some(&true)
                    && self
                        .patterns
                        .iter()
                        .any(|p| p.is_open_prefix(&buf[start..]))
            })
            .map_or(0, |start| buf.len() - start)
    }

    /// Every replacement to make in `hay`, left to right, not overlapping.
    pub(super) fn matches<'s>(&'s self, hay: &'s [u8]) -> impl Iterator<Item = Found<'s>> + 's {
        let withheld = (self.broken && !hay.is_empty()).then(|| Found {
            start: 0,
            end: hay.len(),
            owner: self.patterns.first().map_or(0, |p| p.owner),
            replacement: WITHHELD,
            encoding: Encoding::Raw,
        });
        let regex = if self.broken {
            None
        } else {
            self.regex.as_ref()
        };
        withheld.into_iter().chain(
            regex
                .into_iter()
                .flat_map(move |re| re.find_iter(hay))
                .filter_map(move |m| {
                    let pattern = self.patterns.get(m.pattern().as_usize())?;
                    let (replacement, encoding) = match &pattern.form {
                        Form::Spelled {
                            spelled,
                            raw,
                            url,
                            json,
                        } => match spelled.encoding_of(hay.get(m.range())?) {
                            Encoding::UrlEncoded => (url, Encoding::UrlEncoded),
                            Encoding::JsonEscaped => (json, Encoding::JsonEscaped),
                            _ => (raw, Encoding::Raw),
                        },
                        Form::Base64 { replacement, .. } => (replacement, Encoding::Base64),
                    };
                    Some(Found {
                        start: m.start(),
                        end: m.end(),
                        owner: pattern.owner,
                        replacement: replacement.as_slice(),
                        encoding,
                    })
                }),
        )
    }

    /// Scrubs a complete value (a header, a URL); borrowed when nothing matched.
    pub fn scrub<'b>(&self, input: &'b [u8], counts: &mut RedactionCounts) -> Cow<'b, [u8]> {
        let mut out: Option<Vec<u8>> = None;
        let mut last = 0;
        for m in self.matches(input) {
            let buf = out.get_or_insert_with(|| Vec::with_capacity(input.len()));
            buf.extend_from_slice(&input[last..m.start]);
            buf.extend_from_slice(m.replacement);
            counts.add(m.encoding);
            last = m.end;
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

impl Pattern {
    fn longest(&self) -> usize {
        match &self.form {
            Form::Spelled { spelled, .. } => spelled.longest(),
            Form::Base64 { fragment, .. } => fragment.len(),
        }
    }

    fn first_bytes(&self) -> Vec<u8> {
        match &self.form {
            Form::Spelled { spelled, .. } => spelled.first_bytes().collect(),
            Form::Base64 { fragment, .. } => fragment.first().copied().into_iter().collect(),
        }
    }

    fn is_open_prefix(&self, tail: &[u8]) -> bool {
        match &self.form {
            Form::Spelled { spelled, .. } => spelled.is_open_prefix(tail),
            Form::Base64 { fragment, .. } => {
                fragment.len() > tail.len() && fragment.starts_with(tail)
            }
        }
    }

    /// Regex source for this pattern (bytes as `\xHH`, Unicode off).
    fn regex(&self) -> String {
        match &self.form {
            Form::Spelled { spelled, .. } => spelled.regex(),
            Form::Base64 { fragment, .. } => {
                fragment.iter().map(|b| format!("\\x{b:02X}")).collect()
            }
        }
    }
}

/// What a value becomes when the patterns could not be compiled.
const WITHHELD: &[u8] = b"[withheld: keyward could not build its secret redaction]";

/// `text` JSON-escaped, without the surrounding quotes.
fn json_inner(text: &str) -> Vec<u8> {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted
        .get(1..quoted.len().saturating_sub(1))
        .unwrap_or(text)
        .as_bytes()
        .to_vec()
}

/// One regex over every pattern, pattern ids in `patterns` order; `None` when there is none.
fn compile(patterns: &[Pattern]) -> Option<Regex> {
    if patterns.is_empty() {
        return None;
    }
    let sources: Vec<String> = patterns.iter().map(Pattern::regex).collect();
    let built = Regex::builder()
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        // The set grows with the secrets; no size cap that would drop a secret.
        .configure(meta::Regex::config().utf8_empty(false).nfa_size_limit(None))
        .build_many(&sources);
    match built {
        Ok(re) => Some(re),
        Err(error) => {
            tracing::error!(%error, patterns = sources.len(), "secret redaction patterns do not compile; withholding every scrubbed value");
            None
        }
    }
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

mod built_from;
#[cfg(test)]
mod encoders;
#[cfg(test)]
mod tests;
