//! Response shaping: the upstream's JSON cut down to the fields an action lists
//! (`fields: [/number, /html_url]`), nested as in the source; everything else is dropped.

use serde_json::{Map, Value};

/// One segment of a field pointer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object member.
    Key(String),
    /// `*`: every element of an array.
    Each,
}

/// The fields an action returns.
#[derive(Clone, Debug, Default)]
pub struct Shape {
    /// Each field as its pointer's steps.
    pub fields: Vec<Vec<Step>>,
}

/// Why a response could not be shaped (the agent gets an error, not the raw body).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The upstream's body is not JSON.
    #[error("the upstream's response is not JSON")]
    NotJson,
}

/// Parses a field pointer (`/user/login`, `/labels/*/name`; `~0` and `~1` escape `~`, `/`).
pub fn parse_field(text: &str) -> Result<Vec<Step>, String> {
    let rest = text
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid field `{text}` (a JSON pointer such as `/number`)"))?;
    rest.split('/')
        .map(|s| match s {
            "" => Err(format!("invalid field `{text}`: empty segment")),
            "*" => Ok(Step::Each),
            s => Ok(Step::Key(s.replace("~1", "/").replace("~0", "~"))),
        })
        .collect()
}

impl Shape {
    /// Shapes a response body; fields missing in the source are left out.
    pub fn apply(&self, body: &[u8]) -> Result<Value, ShapeError> {
        // Nothing is asked of the answer (an email API's empty 202): it is not read at all.
        if self.fields.is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        let source: Value = serde_json::from_slice(body).map_err(|_| ShapeError::NotJson)?;
        let mut out = Value::Object(Map::new());
        for field in &self.fields {
            if let Some(picked) = pick(&source, field) {
                merge(&mut out, picked);
            }
        }
        Ok(out)
    }
}

/// The part of `source` a pointer reaches, nested as in `source`.
fn pick(source: &Value, steps: &[Step]) -> Option<Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(source.clone());
    };
    match (step, source) {
        (Step::Key(key), Value::Object(map)) => {
            let inner = pick(map.get(key)?, rest)?;
            Some(Value::Object(Map::from_iter([(key.clone(), inner)])))
        }
        // Elements without the field stay as `{}`, so that two fields of one array align.
        (Step::Each, Value::Array(items)) => Some(Value::Array(
            items
                .iter()
                .map(|item| pick(item, rest).unwrap_or_else(|| Value::Object(Map::new())))
                .collect(),
        )),
        _ => None,
    }
}

/// Merges a picked part into the output: objects member by member, arrays element by element.
fn merge(into: &mut Value, part: Value) {
    match (into, part) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match a.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        a.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (x, y) in a.iter_mut().zip(b) {
                merge(x, y);
            }
        }
        (slot, part) => *slot = part,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shape(fields: &[&str]) -> Shape {
        Shape {
            fields: fields.iter().map(|f| parse_field(f).unwrap()).collect(),
        }
    }

    #[test]
    fn only_listed_fields_are_kept_nested_as_in_the_source() {
        let body = json!({"number": 7, "html_url": "https://x/7", "token": "s3cret",
            "user": {"login": "octo", "email": "o@x"}, "labels": [{"name": "bug", "id": 1}, {"id": 2}]});
        let out = shape(&[
            "/number",
            "/html_url",
            "/user/login",
            "/labels/*/name",
            "/missing",
        ])
        .apply(body.to_string().as_bytes())
        .unwrap();
        assert_eq!(
            out,
            json!({"number": 7, "html_url": "https://x/7", "user": {"login": "octo"},
                "labels": [{"name": "bug"}, {}]})
        );
    }

    #[test]
    fn two_fields_of_one_array_align() {
        let body = json!({"items": [{"a": 1, "b": 2, "c": 3}, {"b": 4}]});
        let out = shape(&["/items/*/a", "/items/*/b"])
            .apply(body.to_string().as_bytes())
            .unwrap();
        assert_eq!(out, json!({"items": [{"a": 1, "b": 2}, {"b": 4}]}));
    }

    #[test]
    fn no_fields_give_an_empty_object_and_non_json_is_an_error() {
        assert_eq!(Shape::default().apply(b"{\"a\":1}").unwrap(), json!({}));
        assert_eq!(shape(&["/a"]).apply(b"<html>"), Err(ShapeError::NotJson));
        assert_eq!(shape(&["/a"]).apply(b""), Err(ShapeError::NotJson));
        assert_eq!(shape(&["/a"]).apply(b"[1,2]").unwrap(), json!({}));
    }

    #[test]
    fn field_pointers_are_checked() {
        assert_eq!(
            parse_field("/a~1b/~0c").unwrap(),
            vec![Step::Key("a/b".into()), Step::Key("~c".into())]
        );
        for bad in ["number", "/a//b", "/", ""] {
            assert!(parse_field(bad).is_err(), "{bad}");
        }
    }
}
