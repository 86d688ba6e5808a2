//! OpenAPI schemas in the subset actions accept: `$ref`s within the document followed (at
//! most [`MAX_DEPTH`] deep, so a cycle ends), keywords outside the subset dropped and named.

use serde_json::{Map, Value, json};

/// Most `$ref`s followed from one schema: deeper (or cyclic) schemas are cut off.
pub(super) const MAX_DEPTH: usize = 16;

/// `value` with a `$ref` to the same document followed (once; the caller recurses).
pub(super) fn resolve<'a>(
    doc: &'a Value,
    value: &'a Value,
    depth: usize,
) -> Result<&'a Value, String> {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return Ok(value);
    };
    if depth >= MAX_DEPTH {
        return Err(format!(
            "$ref {reference} nests more than {MAX_DEPTH} deep (or cycles)"
        ));
    }
    let pointer = reference
        .strip_prefix('#')
        .ok_or_else(|| format!("$ref {reference} points outside the document"))?;
    let target = doc
        .pointer(pointer)
        .ok_or_else(|| format!("$ref {reference} points nowhere"))?;
    resolve(doc, target, depth + 1)
}

/// An OpenAPI schema in the subset actions accept; `at` names it in the dropped list.
pub(super) fn convert(
    doc: &Value,
    schema: &Value,
    depth: usize,
    dropped: &mut Vec<String>,
    at: &str,
) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{at}: the schema nests more than {MAX_DEPTH} deep (or cycles)"
        ));
    }
    let schema = resolve(doc, schema, depth)?;
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.clone(),
        // OpenAPI 3.1: `type: [string, "null"]`.
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("string")
            .to_owned(),
        Some(other) => return Err(format!("{at}: type {other} is not a type name")),
        None if schema.get("properties").is_some() => "object".to_owned(),
        None => {
            dropped.push(format!("{at} (no type; taken as a string)"));
            "string".to_owned()
        }
    };
    if !["object", "string", "integer", "number", "boolean", "array"].contains(&kind.as_str()) {
        return Err(format!("{at}: type {kind} has no equivalent"));
    }
    let mut out = json!({ "type": kind });
    let keep: &[&str] = match kind.as_str() {
        "string" => &["description", "enum", "pattern", "minLength", "maxLength"],
        "integer" | "number" => &["description", "enum", "minimum", "maximum"],
        "array" => &["description", "minItems", "maxItems"],
        "object" => &["description"],
        _ => &["description"],
    };
    for (key, value) in schema.as_object().into_iter().flatten() {
        if keep.contains(&key.as_str()) {
            let value = match (key.as_str(), value) {
                ("enum", Value::Array(items)) => {
                    Value::Array(items.iter().filter(|v| !v.is_null()).cloned().collect())
                }
                _ => value.clone(),
            };
            out[key] = value;
        } else if !matches!(
            key.as_str(),
            "type" | "properties" | "required" | "items" | "$ref"
        ) {
            dropped.push(format!("{at}.{key}"));
        }
    }
    if kind == "array" {
        let items = schema
            .get("items")
            .cloned()
            .unwrap_or(json!({"type": "string"}));
        out["items"] = convert(doc, &items, depth + 1, dropped, &format!("{at}[]"))?;
    }
    if kind == "object" {
        let mut props = Map::new();
        for (name, prop) in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let at = format!("{at}.{name}");
            match convert(doc, prop, depth + 1, dropped, &at) {
                Ok(p) => {
                    props.insert(name.clone(), p);
                }
                Err(why) => dropped.push(why),
            }
        }
        let required: Vec<Value> = schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.as_str().is_some_and(|r| props.contains_key(r)))
            .cloned()
            .collect();
        out["properties"] = Value::Object(props);
        if !required.is_empty() {
            out["required"] = Value::Array(required);
        }
    }
    Ok(out)
}
