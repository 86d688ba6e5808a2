//! Renders a validated input into the request an action sends: path parameters
//! percent-encoded as one segment, query values as query components, header values free of
//! CR, LF and NUL, body values JSON-encoded. The rendered path is normalised once more to prove
//! it still has the template's segments.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::actions::template::{BodyTemplate, Piece, TextTemplate, UrlTemplate};
use crate::policy::normalize::normalize_target;

/// Everything but the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - . _ ~`) is escaped,
/// so a value can neither end its segment (`/`, `?`, `#`) nor bring its own escapes (`%`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why an input could not become a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A path parameter has no value (the schema makes it required; checked again here).
    #[error("parameter `{0}` has no value")]
    Missing(String),
    /// A path parameter would not stay one segment (`..`, an empty value, an encoded `/`).
    #[error("parameter `{param}` cannot be a path segment: {reason}")]
    Segment {
        /// The parameter.
        param: String,
        /// What the normaliser refused.
        reason: String,
    },
    /// A header value with CR, LF, NUL or another byte headers cannot carry.
    #[error("header `{0}` would contain a control character")]
    HeaderValue(String),
    /// The assembled request was invalid (not expected after compile checks).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// The text of an input value: strings as they are, everything else as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fills a text template; `None` when a parameter is absent. `encode` escapes each value.
fn fill(
    template: &TextTemplate,
    input: &Map<String, Value>,
    encode: impl Fn(&str) -> String,
) -> Option<String> {
    let mut out = String::new();
    for piece in &template.0 {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Param(name) => out.push_str(&encode(&text_of(input.get(name)?))),
        }
    }
    Some(out)
}

/// The rendered `path?query`.
pub fn render_target(url: &UrlTemplate, input: &Map<String, Value>) -> Result<String, RenderError> {
    let encode = |v: &str| utf8_percent_encode(v, COMPONENT).to_string();
    let mut path = String::new();
    for segment in &url.segments {
        let text = fill(segment, input, encode).ok_or_else(|| {
            RenderError::Missing(segment.params().next().unwrap_or_default().to_owned())
        })?;
        check_segment(url, segment, &text)?;
        path.push('/');
        path.push_str(&text);
    }
    if path.is_empty() {
        path.push('/');
    }
    let query: Vec<String> = url
        .query
        .iter()
        .filter_map(|(name, value)| Some(format!("{name}={}", fill(value, input, encode)?)))
        .collect();
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    Ok(path)
}

/// The normaliser must read a rendered segment as one non-empty segment; otherwise the
/// value is refused here, with the normaliser's reason, rather than sent.
fn check_segment(
    url: &UrlTemplate,
    template: &TextTemplate,
    text: &str,
) -> Result<(), RenderError> {
    let Some(param) = template.params().next() else {
        return Ok(());
    };
    let refuse = |reason: String| RenderError::Segment {
        param: param.to_owned(),
        reason,
    };
    let port = url
        .authority
        .port_u16()
        .unwrap_or(if url.scheme == "https" { 443 } else { 80 });
    let target = normalize_target(url.host(), port, &format!("/{text}"))
        .map_err(|e| refuse(e.to_string()))?;
    match target.segments.as_slice() {
        [one] if !one.is_empty() && target.spellings == Default::default() => Ok(()),
        [_] => Err(refuse("an empty segment or a `;` parameter".to_owned())),
        _ => Err(refuse("it would split the segment".to_owned())),
    }
}

/// A header value; `None` when a parameter is absent (the header is left out).
pub fn render_header(
    name: &http::HeaderName,
    template: &TextTemplate,
    input: &Map<String, Value>,
) -> Result<Option<http::HeaderValue>, RenderError> {
    let Some(text) = fill(template, input, str::to_owned) else {
        return Ok(None);
    };
    if text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(RenderError::HeaderValue(name.to_string()));
    }
    http::HeaderValue::from_str(&text)
        .map(Some)
        .map_err(|_| RenderError::HeaderValue(name.to_string()))
}

/// The JSON body; `None` for an absent `"{field}"` (left out of its object or array).
pub fn render_body(template: &BodyTemplate, input: &Map<String, Value>) -> Option<Value> {
    match template {
        BodyTemplate::Field(name) => input.get(name).cloned(),
        BodyTemplate::Text(text) => fill(text, input, str::to_owned).map(Value::String),
        BodyTemplate::Object(entries) => Some(Value::Object(
            entries
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), render_body(v, input)?)))
                .collect(),
        )),
        BodyTemplate::Array(items) => Some(Value::Array(
            items.iter().filter_map(|v| render_body(v, input)).collect(),
        )),
        BodyTemplate::Literal(value) => Some(value.clone()),
    }
}

#[cfg(test)]
mod tests;
