//! Masks the values a rule's `redact_json` pointers select in a JSON document, in place on
//! its bytes: every selected value becomes `"[redacted]"` and every other byte is kept
//! (key order, spacing, number spelling), without building a `serde_json::Value`.
//!
//! The document is first checked with serde_json, so the walk below only ever sees valid
//! JSON; it still refuses anything unexpected rather than guess, and refuses nesting deeper
//! than [`MAX_DEPTH`] (as parsing into a `Value` does). A key that appears twice is masked
//! at both places.

use std::borrow::Cow;

use serde::de::IgnoredAny;

use crate::policy::json::{JsonPath, Segment, names_index};

/// Deepest nesting accepted, the limit serde_json applies when it builds a `Value`.
const MAX_DEPTH: usize = 128;

/// What a masked value is replaced with.
const MASK: &[u8] = b"\"[redacted]\"";

/// Why a body cannot be masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("response is not valid JSON: {0}")]
pub struct NotJson(String);

/// Returns `body` with every value selected by `paths` replaced by `"[redacted]"`, and how
/// many values were masked (a value inside another masked value is not counted again).
pub fn mask(body: &[u8], paths: &[JsonPath]) -> Result<(Vec<u8>, u64), NotJson> {
    serde_json::from_slice::<IgnoredAny>(body).map_err(|e| NotJson(e.to_string()))?;
    let compiled: Vec<Vec<Segment<'_>>> = paths.iter().map(|p| p.segments().collect()).collect();
    let states: Vec<State> = (0..compiled.len())
        .map(|path| State { path, step: 0 })
        .collect();
    let mut walk = Walk {
        bytes: body,
        at: 0,
        paths: &compiled,
        spans: Vec::new(),
        depth: 0,
    };
    walk.value(&states)?;
    let mut out = Vec::with_capacity(body.len());
    let mut copied = 0;
    for &(start, end) in &walk.spans {
        out.extend_from_slice(&body[copied..start]);
        out.extend_from_slice(MASK);
        copied = end;
    }
    out.extend_from_slice(&body[copied..]);
    Ok((out, walk.spans.len() as u64))
}

/// How far one pointer has got: `step` segments of path `path` are matched.
#[derive(Clone, Copy, Debug)]
struct State {
    path: usize,
    step: usize,
}

/// A walk over a document already known to be valid JSON.
struct Walk<'a, 'p> {
    bytes: &'a [u8],
    at: usize,
    paths: &'p [Vec<Segment<'p>>],
    /// Byte ranges of masked values, in document order, never nested.
    spans: Vec<(usize, usize)>,
    /// Containers open around the current position.
    depth: usize,
}

impl<'a> Walk<'a, '_> {
    fn fail(&self, what: &str) -> NotJson {
        NotJson(format!("{what} at byte {}", self.at))
    }

    fn peek(&mut self) -> Result<u8, NotJson> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Ok(b);
            }
            self.at += 1;
        }
        Err(self.fail("unexpected end"))
    }

    fn expect(&mut self, byte: u8) -> Result<(), NotJson> {
        if self.peek()? != byte {
            return Err(self.fail("unexpected byte"));
        }
        self.at += 1;
        Ok(())
    }

    fn done(&self, state: &State) -> bool {
        self.paths[state.path].len() == state.step
    }

    /// One value, with the pointers that have reached it.
    fn value(&mut self, states: &[State]) -> Result<(), NotJson> {
        let first = self.peek()?;
        let start = self.at;
        if !matches!(first, b'{' | b'[') {
            // A `*` over a scalar selects the scalar itself (as in `JsonPath::select`).
            let selected = states.iter().any(|s| {
                let rest = &self.paths[s.path][s.step..];
                rest.iter().all(|seg| *seg == Segment::Each)
            });
            self.skip_scalar(first)?;
            if selected {
                self.spans.push((start, self.at));
            }
            return Ok(());
        }
        if states.iter().any(|s| self.done(s)) {
            self.skip_container()?;
            self.spans.push((start, self.at));
            return Ok(());
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail("nested too deep"));
        }
        let walked = if first == b'{' {
            self.object(states)
        } else {
            self.array(states)
        };
        self.depth -= 1;
        walked
    }

    fn object(&mut self, states: &[State]) -> Result<(), NotJson> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Ok(());
        }
        loop {
            let key = self.key()?;
            self.expect(b':')?;
            let next = self.advance(states, |k| k == key.as_ref());
            self.child(&next)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected , or }")),
            }
        }
    }

    fn array(&mut self, states: &[State]) -> Result<(), NotJson> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Ok(());
        }
        let mut index = 0;
        loop {
            let next = self.advance(states, |k| names_index(k, index));
            self.child(&next)?;
            index += 1;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.fail("expected , or ]")),
            }
        }
    }

    /// The pointers that go on into a member or element: those whose next segment is `*`
    /// or a key `names` accepts, one segment further.
    fn advance(&self, states: &[State], names: impl Fn(&str) -> bool) -> Vec<State> {
        states
            .iter()
            .filter(|s| match self.paths[s.path][s.step] {
                Segment::Each => true,
                Segment::Key(k) => names(k),
            })
            .map(|s| State {
                path: s.path,
                step: s.step + 1,
            })
            .collect()
    }

    /// A member or element: walked when a pointer is still on it, skipped otherwise.
    fn child(&mut self, states: &[State]) -> Result<(), NotJson> {
        if states.is_empty() {
            let first = self.peek()?;
            if matches!(first, b'{' | b'[') {
                self.skip_container()
            } else {
                self.skip_scalar(first)
            }
        } else {
            self.value(states)
        }
    }

    /// An object key, unescaped (borrowed from the document unless it has escapes).
    fn key(&mut self) -> Result<Cow<'a, str>, NotJson> {
        if self.peek()? != b'"' {
            return Err(self.fail("expected a key"));
        }
        let start = self.at;
        self.skip_string()?;
        let raw: &'a [u8] = &self.bytes[start..self.at];
        if !raw.contains(&b'\\') {
            return std::str::from_utf8(&raw[1..raw.len() - 1])
                .map(Cow::Borrowed)
                .map_err(|_| self.fail("key is not UTF-8"));
        }
        serde_json::from_slice::<String>(raw)
            .map(Cow::Owned)
            .map_err(|e| NotJson(e.to_string()))
    }

    /// A string starting at `"`, escapes included.
    fn skip_string(&mut self) -> Result<(), NotJson> {
        self.at += 1;
        while let Some(&b) = self.bytes.get(self.at) {
            self.at += 1;
            match b {
                b'"' => return Ok(()),
                b'\\' => self.at += 1,
                _ => {}
            }
        }
        Err(self.fail("unterminated string"))
    }

    /// A string, number, `true`, `false` or `null`.
    fn skip_scalar(&mut self, first: u8) -> Result<(), NotJson> {
        if first == b'"' {
            return self.skip_string();
        }
        let start = self.at;
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z') {
                break;
            }
            self.at += 1;
        }
        if self.at == start {
            return Err(self.fail("expected a value"));
        }
        Ok(())
    }

    /// An object or array, whole, by counting brackets outside strings.
    fn skip_container(&mut self) -> Result<(), NotJson> {
        let mut depth = 0usize;
        while let Some(&b) = self.bytes.get(self.at) {
            match b {
                b'"' => {
                    self.skip_string()?;
                    continue;
                }
                b'{' | b'[' => {
                    depth += 1;
                    if self.depth + depth > MAX_DEPTH {
                        return Err(self.fail("nested too deep"));
                    }
                }
                b'}' | b']' => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| self.fail("unbalanced"))?;
                    if depth == 0 {
                        self.at += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.at += 1;
        }
        Err(self.fail("unterminated container"))
    }
}

#[cfg(test)]
mod tests;
