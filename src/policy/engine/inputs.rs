//! The parts of a request the conditions read, each computed at most once per decision:
//! the decoded body, its JSON and form parses, the query parameters.

use std::borrow::Cow;
use std::cell::OnceCell;

use serde_json::Value;

use crate::policy::body::form::decode_component;
use crate::policy::body::json::{self as body_json, ParsedJson};
use crate::policy::body::{self, BodyError, decoded_cap};
use crate::policy::json::{JsonPath, pointer_text};
use crate::policy::request::{RequestBody, RequestHead};

/// Lazily computed request inputs.
pub(super) struct Inputs<'r> {
    /// The head being decided.
    pub head: &'r RequestHead<'r>,
    /// The body the proxy passed, if any.
    body: Option<&'r RequestBody<'r>>,
    /// Decoded-size cap for this decision: the largest cap among matching rules.
    cap: usize,
    decoded: OnceCell<Result<Cow<'r, [u8]>, BodyError>>,
    json: OnceCell<Result<ParsedJson, BodyError>>,
    form: OnceCell<Result<Value, BodyError>>,
    query: OnceCell<Result<Vec<(String, String)>, String>>,
}

impl<'r> Inputs<'r> {
    /// Inputs for one decision; `largest_max_size` sets the decoded-size cap.
    pub fn new(
        head: &'r RequestHead<'r>,
        body: Option<&'r RequestBody<'r>>,
        largest_max_size: usize,
    ) -> Self {
        Inputs {
            head,
            body,
            cap: decoded_cap(largest_max_size),
            decoded: OnceCell::new(),
            json: OnceCell::new(),
            form: OnceCell::new(),
            query: OnceCell::new(),
        }
    }

    /// The decoded body, checked against one rule's `max_size` and decoded-size cap.
    pub fn body(&self, max_size: usize) -> Result<&[u8], BodyError> {
        let body = self.body.ok_or(BodyError::Missing)?;
        if body.truncated || body.bytes.len() > max_size {
            return Err(BodyError::TooLarge { max_size });
        }
        let decoded = self
            .decoded
            .get_or_init(|| body::decode(body.bytes, body.content_encoding, self.cap))
            .as_ref()
            .map_err(Clone::clone)?;
        let cap = decoded_cap(max_size);
        if decoded.len() > cap {
            return Err(BodyError::DecodedTooLarge { cap });
        }
        Ok(decoded)
    }

    /// The body parsed as JSON, refused when a key on `path` appears twice in its object
    /// (servers disagree on which value wins; the reason names the key's pointer).
    pub fn json(&self, max_size: usize, path: &JsonPath) -> Result<&Value, String> {
        let bytes = self.body(max_size).map_err(|e| e.to_string())?;
        let parsed = self
            .json
            .get_or_init(|| body_json::parse(bytes))
            .as_ref()
            .map_err(ToString::to_string)?;
        match parsed.duplicates.iter().find(|d| path.overlaps(d)) {
            Some(duplicate) => Err(format!(
                "request body has the JSON key `{}` more than once; servers disagree on which value wins",
                pointer_text(duplicate)
            )),
            None => Ok(&parsed.value),
        }
    }

    /// The body as the document of JSON-RPC calls: `Ok(None)` when it is not JSON (so not
    /// JSON-RPC), `Err` when it cannot be read or has a key twice anywhere (fail closed:
    /// the server may read the other value of a method, name or argument).
    pub fn rpc_document(&self, max_size: usize) -> Result<Option<&Value>, String> {
        let bytes = self.body(max_size).map_err(|e| e.to_string())?;
        let Ok(parsed) = self.json.get_or_init(|| body_json::parse(bytes)).as_ref() else {
            return Ok(None);
        };
        match parsed.duplicates.first() {
            Some(duplicate) => Err(format!(
                "request body has the JSON key `{}` more than once; servers disagree on which value wins",
                pointer_text(duplicate)
            )),
            None => Ok(Some(&parsed.value)),
        }
    }

    /// The body's `Content-Type`, when the proxy passed a body that has one.
    pub fn content_type(&self) -> Option<&str> {
        self.body.and_then(|b| b.content_type)
    }

    /// The body parsed as form data.
    pub fn form(&self, max_size: usize) -> Result<&Value, BodyError> {
        let bytes = self.body(max_size)?;
        self.form
            .get_or_init(|| body::parse_form(bytes))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The values of one query parameter, decoded (`+` is a space).
    pub fn query(&self, name: &str) -> Result<Option<Value>, String> {
        let pairs = self
            .query
            .get_or_init(|| parse_query(self.head.query.unwrap_or_default()))
            .as_ref()
            .map_err(Clone::clone)?;
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect();
        Ok(strings_value(&values))
    }

    /// The values of one header (non-UTF-8 bytes replaced).
    pub fn header(&self, name: &http::HeaderName) -> Option<Value> {
        let values: Vec<Cow<'_, str>> = self
            .head
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect();
        let refs: Vec<&str> = values.iter().map(|v| v.as_ref()).collect();
        strings_value(&refs)
    }
}

/// None, one string, or an array of strings for repeated values.
fn strings_value(values: &[&str]) -> Option<Value> {
    match values {
        [] => None,
        [one] => Some(Value::String((*one).to_owned())),
        many => Some(Value::Array(
            many.iter()
                .map(|v| Value::String((*v).to_owned()))
                .collect(),
        )),
    }
}

/// Splits and decodes a query string; a malformed escape is an error (fail closed).
fn parse_query(query: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            decode_component(s.as_bytes())
                .map_err(|_| format!("query string is not valid: `{pair}`"))
        };
        pairs.push((decode(k)?, decode(v)?));
    }
    Ok(pairs)
}
