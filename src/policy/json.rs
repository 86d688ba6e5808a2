//! JSON pointers (RFC 6901) extended with `*` segments that select every element.

use std::fmt;

use serde_json::Value;

/// One segment of a pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// An object key or array index (unescaped `~0`/`~1`).
    Key(String),
    /// `*`: every element of an array or every value of an object.
    Each,
}

/// One segment of a pointer, as [`JsonPath::segments`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// An object key or array index, unescaped.
    Key(&'a str),
    /// `*`: every element of an array or value of an object (a scalar selects itself).
    Each,
}

/// A compiled pointer such as `/labels/*` or `/personalizations/0/to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    /// The segments, in order.
    steps: Vec<Step>,
    /// The pointer as written.
    text: String,
}

/// Why a pointer is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON pointer `{pointer}`: {reason}")]
pub struct JsonPathError {
    /// The pointer as written.
    pub pointer: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A value selected by a pointer, with the concrete pointer that reached it.
pub type Selected<'v> = (String, &'v Value);

impl JsonPath {
    /// Parses `""` (the whole document) or `/a/b/*/c`.
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let fail = |reason| JsonPathError {
            pointer: text.to_owned(),
            reason,
        };
        if text.is_empty() {
            return Ok(JsonPath {
                steps: Vec::new(),
                text: String::new(),
            });
        }
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| fail("must start with `/`"))?;
        let mut steps = Vec::new();
        for raw in rest.split('/') {
            if raw == "*" {
                steps.push(Step::Each);
                continue;
            }
            if has_bad_escape(raw) {
                return Err(fail("`~` must be followed by 0 or 1"));
            }
            steps.push(Step::Key(raw.replace("~1", "/").replace("~0", "~")));
        }
        Ok(JsonPath {
            steps,
            text: text.to_owned(),
        })
    }

    /// A pointer to one top-level field (form fields, query parameters).
    pub fn field(name: &str) -> JsonPath {
        JsonPath {
            steps: vec![Step::Key(name.to_owned())],
            text: format!("/{}", escape(name)),
        }
    }

    /// The segments, for walkers that do not build a `Value` (response masking).
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        self.steps.iter().map(|s| match s {
            Step::Key(k) => Segment::Key(k),
            Step::Each => Segment::Each,
        })
    }

    /// Whether the concrete pointer `segments` lies on this path: a prefix of what it
    /// selects (a `*` matches any segment) or under a value it selects.
    pub fn overlaps(&self, segments: &[String]) -> bool {
        self.steps
            .iter()
            .zip(segments)
            .all(|(step, segment)| match step {
                Step::Key(key) => key == segment,
                Step::Each => true,
            })
    }

    /// True when some segment is `*`.
    pub fn has_wildcard(&self) -> bool {
        self.steps.contains(&Step::Each)
    }

    /// Every value the pointer reaches, with its concrete pointer (`*` replaced by the index).
    /// A `*` over a scalar selects the scalar itself, so that conditions cannot be dodged by
    /// sending one value where a list was expected (or a form field once instead of twice).
    pub fn select<'v>(&self, root: &'v Value) -> Vec<Selected<'v>> {
        let mut current: Vec<Selected<'v>> = vec![(String::new(), root)];
        for step in &self.steps {
            let mut next = Vec::new();
            for (at, value) in current {
                match step {
                    Step::Key(key) => {
                        if let Some(child) = child(value, key) {
                            next.push((format!("{at}/{}", escape(key)), child));
                        }
                    }
                    Step::Each => match value {
                        Value::Array(items) => next.extend(
                            items
                                .iter()
                                .enumerate()
                                .map(|(i, v)| (format!("{at}/{i}"), v)),
                        ),
                        Value::Object(map) => {
                            next.extend(map.iter().map(|(k, v)| (format!("{at}/{}", escape(k)), v)))
                        }
                        scalar => next.push((at, scalar)),
                    },
                }
            }
            current = next;
        }
        current
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Whether `key` names array index `i` (canonical decimal: `0`, `12`, never `01` or `+1`).
pub fn names_index(key: &str, i: usize) -> bool {
    let canonical = key == "0" || (!key.starts_with('0') && !key.starts_with('+'));
    canonical && key.parse::<usize>().ok() == Some(i)
}

/// The child of an object by key or of an array by canonical decimal index.
fn child<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key
            .parse::<usize>()
            .ok()
            .filter(|&i| names_index(key, i))
            .and_then(|i| items.get(i)),
        _ => None,
    }
}

/// The pointer text of concrete segments (`["a", "x/y"]` → `/a/x~1y`).
pub fn pointer_text(segments: &[String]) -> String {
    segments.iter().map(|s| format!("/{}", escape(s))).collect()
}

/// Escapes a key back into pointer form.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A `~` not followed by `0` or `1`.
fn has_bad_escape(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'~' && !matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointers(path: &str, doc: &Value) -> Vec<String> {
        JsonPath::parse(path)
            .unwrap()
            .select(doc)
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    #[test]
    fn plain_pointer() {
        let doc = json!({"a": {"b": [10, 20]}, "x/y": 1, "t~": 2});
        assert_eq!(pointers("/a/b/1", &doc), vec!["/a/b/1"]);
        assert_eq!(pointers("/x~1y", &doc), vec!["/x~1y"]);
        assert_eq!(pointers("/t~0", &doc), vec!["/t~0"]);
        assert!(pointers("/a/b/2", &doc).is_empty());
        assert!(pointers("/a/b/01", &doc).is_empty());
        assert_eq!(pointers("", &doc), vec![""]);
    }

    #[test]
    fn wildcard_selects_each_element() {
        let doc = json!({"labels": ["bug", "wontfix"], "p": [{"to": [1]}, {"to": [2, 3]}]});
        assert_eq!(pointers("/labels/*", &doc), vec!["/labels/0", "/labels/1"]);
        assert_eq!(
            pointers("/p/*/to/*", &doc),
            vec!["/p/0/to/0", "/p/1/to/0", "/p/1/to/1"]
        );
        assert!(pointers("/missing/*", &doc).is_empty());
        assert_eq!(
            pointers("/labels/0/*", &doc),
            vec!["/labels/0"],
            "a scalar selects itself"
        );
        assert!(JsonPath::parse("/labels/*").unwrap().has_wildcard());
    }

    #[test]
    fn overlaps_prefixes_and_what_lies_under() {
        let path = JsonPath::parse("/labels/*/name").unwrap();
        let segs = |p: &str| -> Vec<String> { p.split('/').skip(1).map(str::to_owned).collect() };
        for on in [
            "/labels",
            "/labels/3",
            "/labels/0/name",
            "/labels/0/name/deep",
        ] {
            assert!(path.overlaps(&segs(on)), "{on}");
        }
        for off in ["/title", "/labels/0/other", "/label"] {
            assert!(!path.overlaps(&segs(off)), "{off}");
        }
        assert!(JsonPath::parse("").unwrap().overlaps(&segs("/anything")));
        assert_eq!(pointer_text(&["x/y~".to_owned()]), "/x~1y~0");
    }

    #[test]
    fn bad_pointers() {
        assert!(JsonPath::parse("labels").is_err());
        assert!(JsonPath::parse("/a~2").is_err());
        assert!(JsonPath::parse("/a~").is_err());
    }
}
