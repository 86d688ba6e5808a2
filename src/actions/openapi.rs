//! `keyward actions import`: drafts actions from an OpenAPI 3 document for a person to review.
//! Each operation with an `operationId` becomes an action: its path and query parameters and
//! its JSON request body's top-level properties become the input schema (translated to the
//! subset actions accept; keywords outside it are dropped and listed in a comment), the
//! request its template, and the top-level properties of its 2xx JSON answer the fields the
//! agent gets back. Header and cookie parameters are left out: a request's headers are the
//! rules' to set.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use schema::{convert, resolve};

mod schema;

/// The longest action name.
const MAX_NAME: usize = 64;

/// The HTTP methods an OpenAPI path item may hold, as actions write them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Why no draft could be made.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("not an OpenAPI 3 document: {0}")]
    NotOpenApi(String),
    #[error(
        "no server URL: give one with --server (the document has no absolute `servers[0].url`)"
    )]
    NoServer,
    #[error("no operation to import{0}")]
    Nothing(String),
}

/// What to import.
#[derive(Debug, Default)]
pub struct Options {
    /// Only these `operationId`s (all when empty).
    pub only: Vec<String>,
    /// The first word of every action's name (default: from the document's title).
    pub prefix: Option<String>,
    /// The base URL, in place of the document's first server.
    pub server: Option<String>,
}

/// The draft: a rule file's text, and the operations left out with why.
#[derive(Debug)]
pub struct Draft {
    pub yaml: String,
    pub skipped: Vec<String>,
}

/// Drafts the actions of `doc` (an OpenAPI 3.x document, parsed).
pub fn draft(doc: &Value, source: &str, options: &Options) -> Result<Draft, ImportError> {
    let version = doc.get("openapi").and_then(Value::as_str).unwrap_or("");
    if !version.starts_with('3') {
        return Err(ImportError::NotOpenApi(format!(
            "`openapi: 3.x` is missing (found {version:?})"
        )));
    }
    let server = match &options.server {
        Some(url) => url.clone(),
        None => doc
            .pointer("/servers/0/url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .ok_or(ImportError::NoServer)?
            .to_owned(),
    };
    let server = server.trim_end_matches('/');
    let title = doc
        .pointer("/info/title")
        .and_then(Value::as_str)
        .unwrap_or("api");
    let prefix = word(options.prefix.as_deref().unwrap_or(title));
    let Some(Value::Object(paths)) = doc.get("paths") else {
        return Err(ImportError::NotOpenApi("no `paths`".into()));
    };
    let mut actions = Vec::new();
    let mut skipped = Vec::new();
    let mut dropped_all = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let Some(id) = op.get("operationId").and_then(Value::as_str) else {
                skipped.push(format!("{} {path}: no operationId", method.to_uppercase()));
                continue;
            };
            if !options.only.is_empty() && !options.only.iter().any(|o| o == id) {
                continue;
            }
            let mut dropped = Vec::new();
            match operation(doc, server, path, method, item, op, &mut dropped) {
                Ok(mut action) => {
                    let mut name = format!("{prefix}.{}", word(id));
                    // Names are ASCII words: cutting at a byte keeps them valid.
                    name.truncate(MAX_NAME);
                    action["name"] = Value::String(name.trim_end_matches('_').to_owned());
                    if !dropped.is_empty() {
                        dropped_all.push(format!("{id}: {}", dropped.join(", ")));
                    }
                    actions.push(action);
                }
                Err(why) => skipped.push(format!("{id}: {why}")),
            }
        }
    }
    if actions.is_empty() {
        let why = match skipped.is_empty() {
            true => String::new(),
            false => format!(" ({})", skipped.join("; ")),
        };
        return Err(ImportError::Nothing(why));
    }
    let mut yaml = format!(
        "# Actions drafted by `keyward actions import` from {source}: review every schema\n\
         # (bounds, enums, patterns), the request and the fields returned before use, and\n\
         # write the rules that decide the requests (an action's request meets the rules\n\
         # like any other) and the secrets they inject.\n"
    );
    for line in &dropped_all {
        let _ = writeln!(yaml, "# not expressible, dropped: {line}");
    }
    for line in &skipped {
        let _ = writeln!(yaml, "# not imported: {line}");
    }
    let body = serde_saphyr::to_string(&json!({ "actions": actions }))
        .map_err(|e| ImportError::NotOpenApi(e.to_string()))?;
    yaml.push_str(&body);
    Ok(Draft { yaml, skipped })
}

/// One operation as an action (without its name).
fn operation(
    doc: &Value,
    server: &str,
    path: &str,
    method: &str,
    item: &Value,
    op: &Value,
    dropped: &mut Vec<String>,
) -> Result<Value, String> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut query = Vec::new();
    let mut url_path = path.to_owned();
    let params = item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .chain(op.get("parameters").and_then(Value::as_array))
        .flatten();
    for param in params {
        let param = resolve(doc, param, 0)?;
        let name = param
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a parameter without a name")?;
        let place = param.get("in").and_then(Value::as_str).unwrap_or("");
        let field = word(name);
        let schema = param
            .get("schema")
            .cloned()
            .unwrap_or(json!({"type": "string"}));
        let mut schema = convert(doc, &schema, 0, dropped, &field)?;
        if let Some(d) = param.get("description").and_then(Value::as_str) {
            schema["description"] = Value::String(d.to_owned());
        }
        match place {
            "path" => {
                url_path = url_path.replace(&format!("{{{name}}}"), &format!("{{{field}}}"));
                required.push(Value::String(field.clone()));
            }
            "query" => {
                if param.get("required").and_then(Value::as_bool) == Some(true) {
                    required.push(Value::String(field.clone()));
                }
                query.push(format!("{name}={{{field}}}"));
            }
            other => {
                dropped.push(format!("{other} parameter {name}"));
                continue;
            }
        }
        properties.insert(field, schema);
    }
    let mut body_template = None;
    if let Some(body) = op.get("requestBody") {
        let body = resolve(doc, body, 0)?;
        let schema = body
            .pointer("/content/application~1json/schema")
            .ok_or("a request body that is not application/json")?;
        let schema = convert(doc, schema, 0, dropped, "body")?;
        let Some(Value::Object(fields)) = schema.get("properties") else {
            return Err("a JSON body that is not an object with properties".into());
        };
        let mut template = Map::new();
        for (name, field_schema) in fields {
            let field = word(name);
            if properties.contains_key(&field) {
                return Err(format!("body field {name} has the name of a parameter"));
            }
            template.insert(name.clone(), Value::String(format!("{{{field}}}")));
            properties.insert(field, field_schema.clone());
        }
        let body_required = body.get("required").and_then(Value::as_bool) == Some(true);
        if body_required {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(name) = name.as_str() {
                    required.push(Value::String(word(name)));
                }
            }
        }
        body_template = Some(Value::Object(template));
    }
    let mut url = format!("{server}{url_path}");
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let description = op
        .get("summary")
        .or_else(|| op.get("description"))
        .and_then(Value::as_str)
        .map_or_else(
            || format!("{} {path}", method.to_uppercase()),
            str::to_owned,
        );
    let mut input = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        input["required"] = Value::Array(required);
    }
    let mut request = json!({ "method": method.to_uppercase(), "url": url });
    if let Some(body) = body_template {
        request["body"] = body;
    }
    let mut action = json!({
        "name": "",
        "description": description,
        "input": input,
        "request": request,
    });
    if let Some(fields) = answer_fields(doc, op) {
        action["response"] = json!({ "fields": fields });
    }
    Ok(action)
}

/// The top-level properties of the first 2xx JSON answer, as pointers.
fn answer_fields(doc: &Value, op: &Value) -> Option<Vec<String>> {
    let responses = op.get("responses")?.as_object()?;
    let (_, answer) = responses.iter().find(|(code, _)| code.starts_with('2'))?;
    let answer = resolve(doc, answer, 0).ok()?;
    let schema = answer.pointer("/content/application~1json/schema")?;
    let schema = resolve(doc, schema, 0).ok()?;
    let props = schema.get("properties")?.as_object()?;
    let fields: Vec<String> = props
        .keys()
        .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
        .collect();
    (!fields.is_empty()).then_some(fields)
}

/// `text` as one lowercase word of an action name or a parameter: letters, digits and `_`,
/// starting with a letter (`createIssue` → `create_issue`, `X-Api-Version` → `x_api_version`).
fn word(text: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
            prev_lower = false;
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    match out.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => out,
        _ => format!("op_{out}"),
    }
}

#[cfg(test)]
mod tests;
