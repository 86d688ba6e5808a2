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
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn paths(list: &[&str]) -> Vec<JsonPath> {
        list.iter().map(|p| JsonPath::parse(p).unwrap()).collect()
    }

    fn masked(doc: &str, list: &[&str]) -> (String, u64) {
        let (out, n) = mask(doc.as_bytes(), &paths(list)).unwrap();
        (String::from_utf8(out).unwrap(), n)
    }

    /// What masking through a parsed `Value` gives: the reference semantics.
    fn via_value(doc: &str, list: &[&str]) -> Value {
        let mut value: Value = serde_json::from_str(doc).unwrap();
        for path in paths(list) {
            let pointers: Vec<String> = path.select(&value).into_iter().map(|(p, _)| p).collect();
            for p in pointers {
                if let Some(slot) = value.pointer_mut(&p) {
                    *slot = Value::String("[redacted]".into());
                }
            }
        }
        value
    }

    #[test]
    fn selected_values_are_masked_and_every_other_byte_is_kept() {
        let doc = r#"{ "z": 1,  "user": {"email": "a@b.c", "name": "x"}, "n": 1.50e2 }"#;
        let (out, n) = masked(doc, &["/user/email"]);
        assert_eq!(
            out,
            r#"{ "z": 1,  "user": {"email": "[redacted]", "name": "x"}, "n": 1.50e2 }"#
        );
        assert_eq!(n, 1);
    }

    #[test]
    fn agrees_with_masking_a_parsed_value() {
        let doc = r#"{"items":[{"card":"4111","id":1},{"card":{"n":"5500"}},{"id":3}],
            "tokens":["a","b"],"deep":{"a":[[1,2],[3]]},"esc\u0061ped":"k","s":"x\"}]","t":true}"#;
        for list in [
            &["/items/*/card"][..],
            &["/tokens/*"],
            &["/tokens/1", "/items/0"],
            &["/deep/a/*/0"],
            &["/escaped"],
            &["/s", "/t"],
            &["/items/*/card/n", "/items/*/card"],
            &["/missing", "/items/9/card", "/items/01"],
            &["/s/*"],
            &[""],
        ] {
            let (out, _) = masked(doc, list);
            let ours: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(ours, via_value(doc, list), "{list:?}");
        }
    }

    #[test]
    fn a_duplicate_key_is_masked_everywhere() {
        let (out, n) = masked(r#"{"token":"a","token":"b"}"#, &["/token"]);
        assert_eq!(out, r#"{"token":"[redacted]","token":"[redacted]"}"#);
        assert_eq!(n, 2);
    }

    #[test]
    fn invalid_or_too_deep_json_is_refused() {
        for bad in ["not json", "{\"a\":1", "{\"a\":1}x", "[1,]", ""] {
            assert!(mask(bad.as_bytes(), &paths(&["/a"])).is_err(), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(mask(deep.as_bytes(), &paths(&["/0"])).is_err(), "walked");
        assert!(mask(deep.as_bytes(), &paths(&["/x"])).is_err(), "skipped");
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(mask(ok.as_bytes(), &paths(&["/0/0"])).is_ok());
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-1000i64..1000).prop_map(Value::from),
            "[a-c\\\\\"é ]{0,4}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_document_masks_like_a_parsed_value(
            doc in json(),
            pointers in proptest::collection::vec("(/([a-c]{1,2}|[0-2]|\\*)){1,3}", 1..3),
            pretty in proptest::prelude::any::<bool>(),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&doc).unwrap()
            } else {
                doc.to_string()
            };
            let list: Vec<&str> = pointers.iter().map(String::as_str).collect();
            let (out, _) = masked(&text, &list);
            let ours: Value = serde_json::from_str(&out).unwrap();
            proptest::prop_assert_eq!(ours, via_value(&text, &list));
        }
    }

    #[test]
    fn counts_outer_values_once() {
        let doc = json!({"a": {"b": 1}, "c": [1, 2]}).to_string();
        let (_, n) = masked(&doc, &["/a", "/a/b", "/c/*"]);
        assert_eq!(n, 3);
    }
}
