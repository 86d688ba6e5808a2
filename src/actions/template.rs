//! Request templates of an action: `{name}` parameters in the URL's path and query, in header
//! values and in the JSON body, parsed once when the rules compile.

use serde_json::Value;

/// A piece of a text template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal text, used as written.
    Text(String),
    /// `{name}`: the value of the input's top-level field `name`.
    Param(String),
}

/// Literal text and parameters, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextTemplate(pub Vec<Piece>);

impl TextTemplate {
    /// Parses `Bearer {token}`; `{{`, `}` alone and bad names are errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(['{', '}']) {
            if rest[start..].starts_with('}') {
                return Err(format!("unmatched `}}` in `{text}`"));
            }
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 1..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in `{text}`"))?;
            let name = &after[..end];
            if name.starts_with('{') {
                return Err(format!(
                    "`{{{{…}}}}` in `{text}`: an action names secrets in `inject:`, and the rules' `set_headers` write them"
                ));
            }
            if !is_param_name(name) {
                return Err(format!(
                    "invalid parameter `{{{name}}}` in `{text}` (use letters, digits and `_`)"
                ));
            }
            pieces.push(Piece::Param(name.to_owned()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(TextTemplate(pieces))
    }

    /// The parameters it names.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Piece::Param(name) => Some(name.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// `Some(name)` when the template is exactly one parameter (`"{labels}"`).
    pub fn sole_param(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Piece::Param(name)] => Some(name),
            _ => None,
        }
    }
}

/// `{name}` names: an ASCII letter or `_`, then letters, digits or `_`.
fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `https://api.github.com/repos/{owner}/{repo}/issues?state={state}`: a fixed scheme and
/// host, path segments and query values with parameters.
#[derive(Clone, Debug)]
pub struct UrlTemplate {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`, fixed (never a parameter).
    pub authority: http::uri::Authority,
    /// The path segments after the leading `/`.
    pub segments: Vec<TextTemplate>,
    /// Query pairs: a literal name and a value template.
    pub query: Vec<(String, TextTemplate)>,
}

impl UrlTemplate {
    /// Parses and checks a URL template; the error names the problem.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("invalid URL template `{text}` (use https://host/path)"))?;
        if scheme != "https" && scheme != "http" {
            return Err(format!("invalid scheme `{scheme}` (use https or http)"));
        }
        if text.contains('#') {
            return Err(format!("URL template `{text}` has a fragment (`#`)"));
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (host, rest) = rest.split_at(end);
        if host.contains(['{', '}']) {
            return Err(format!(
                "the host of `{text}` must be fixed: `{host}` contains a parameter"
            ));
        }
        if host.is_empty() || host.contains('@') {
            return Err(format!("invalid host `{host}` in `{text}`"));
        }
        let authority = host
            .parse::<http::uri::Authority>()
            .map_err(|_| format!("invalid host `{host}` in `{text}`"))?;
        let (path, query_text) = rest.split_once('?').unwrap_or((rest, ""));
        let path = path.strip_prefix('/').unwrap_or(path);
        if path.trim_end_matches('/').split('/').any(str::is_empty) && !path.is_empty() {
            return Err(format!(
                "URL template `{text}` has an empty path segment (`//`)"
            ));
        }
        let segments = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/')
                .map(|s| check_literals(TextTemplate::parse(s)?, text))
                .collect::<Result<Vec<_>, String>>()?
        };
        let mut query = Vec::new();
        for pair in query_text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name.is_empty() || name.contains(['{', '}']) {
                return Err(format!(
                    "invalid query name `{name}` in `{text}` (names are fixed text)"
                ));
            }
            check_literals(TextTemplate::parse(name)?, text)?;
            query.push((
                name.to_owned(),
                check_literals(TextTemplate::parse(value)?, text)?,
            ));
        }
        Ok(UrlTemplate {
            scheme: scheme.to_owned(),
            authority,
            segments,
            query,
        })
    }

    /// The parameters of the path (each must be required by the input schema).
    pub fn path_params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().flat_map(TextTemplate::params)
    }

    /// The parameters of the query (a pair is left out when its parameter is absent).
    pub fn query_params(&self) -> impl Iterator<Item = &str> {
        self.query.iter().flat_map(|(_, v)| v.params())
    }

    /// The host without the port.
    pub fn host(&self) -> &str {
        self.authority.host()
    }
}

/// Literal text in a URL must be plain URL characters (no spaces, `%` escapes are written
/// by the encoder, not by hand).
fn check_literals(template: TextTemplate, url: &str) -> Result<TextTemplate, String> {
    for piece in &template.0 {
        if let Piece::Text(text) = piece
            && let Some(bad) = text.chars().find(|c| {
                !(c.is_ascii_alphanumeric() || "-._~!$'()*+,;:@".contains(*c) || *c == '=')
            })
        {
            return Err(format!(
                "character {bad:?} in `{url}` must be written as a parameter or removed"
            ));
        }
    }
    Ok(template)
}

/// A JSON body template: a string exactly `"{field}"` is the input value with its JSON
/// type; other strings interpolate their parameters.
#[derive(Clone, Debug)]
pub enum BodyTemplate {
    /// The input field, as it is (left out of its object or array when absent).
    Field(String),
    /// A string with parameters interpolated.
    Text(TextTemplate),
    /// An object of templates.
    Object(Vec<(String, BodyTemplate)>),
    /// An array of templates.
    Array(Vec<BodyTemplate>),
    /// A number, boolean or null, as written.
    Literal(Value),
}

impl BodyTemplate {
    /// Parses a body as written in YAML.
    pub fn parse(value: &Value) -> Result<Self, String> {
        Ok(match value {
            Value::String(text) => {
                let template = TextTemplate::parse(text)?;
                match template.sole_param() {
                    Some(name) => BodyTemplate::Field(name.to_owned()),
                    None => BodyTemplate::Text(template),
                }
            }
            Value::Object(map) => BodyTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), BodyTemplate::parse(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Value::Array(list) => BodyTemplate::Array(
                list.iter()
                    .map(BodyTemplate::parse)
                    .collect::<Result<_, String>>()?,
            ),
            other => BodyTemplate::Literal(other.clone()),
        })
    }

    /// Visits every parameter with whether it stands alone (`"{field}"`, may be absent).
    pub fn visit_params<'a>(&'a self, f: &mut impl FnMut(&'a str, bool)) {
        match self {
            BodyTemplate::Field(name) => f(name, true),
            BodyTemplate::Text(t) => t.params().for_each(|p| f(p, false)),
            BodyTemplate::Object(entries) => entries.iter().for_each(|(_, v)| v.visit_params(f)),
            BodyTemplate::Array(items) => items.iter().for_each(|v| v.visit_params(f)),
            BodyTemplate::Literal(_) => {}
        }
    }
}
