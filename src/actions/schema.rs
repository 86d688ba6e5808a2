//! An action's compiled input schema and the validation of a call's JSON input against it;
//! an error names the offending field by its JSON pointer.

use std::fmt;

use serde_json::Value;

/// A compiled schema: one node of `input:`.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The type and its keywords.
    pub kind: Kind,
    /// `enum:` the only values allowed (`None`: any value of the type).
    pub one_of: Option<Vec<Value>>,
    /// `description:` shown to the model.
    pub description: Option<String>,
}

/// The type of a schema node with the keywords that apply to it.
#[derive(Clone, Debug)]
pub enum Kind {
    /// `type: object`.
    Object {
        /// `properties:` in file order.
        properties: Vec<(String, Schema)>,
        /// `required:` property names.
        required: Vec<String>,
        /// `additionalProperties:` (default false: unknown fields are refused).
        additional: bool,
    },
    /// `type: string`.
    String {
        /// `pattern:` (searched, as in JSON Schema: anchor it with `^…$`).
        pattern: Option<regex::Regex>,
        /// `minLength:` in characters.
        min_length: Option<u64>,
        /// `maxLength:` in characters.
        max_length: Option<u64>,
    },
    /// `type: integer`.
    Integer(Bounds),
    /// `type: number`.
    Number(Bounds),
    /// `type: boolean`.
    Boolean,
    /// `type: array`.
    Array {
        /// `items:` the schema of every element.
        items: Box<Schema>,
        /// `minItems:`.
        min_items: Option<u64>,
        /// `maxItems:`.
        max_items: Option<u64>,
    },
}

/// `minimum:` / `maximum:` (inclusive).
#[derive(Clone, Copy, Debug, Default)]
pub struct Bounds {
    /// Smallest value allowed.
    pub minimum: Option<f64>,
    /// Largest value allowed.
    pub maximum: Option<f64>,
}

/// Why an input was refused: the field's JSON pointer and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if pointer.is_empty() { "/" } else { pointer.as_str() })]
pub struct InputError {
    /// JSON pointer of the field (`""` for the whole input).
    pub pointer: String,
    /// What is wrong, naming the value.
    pub message: String,
}

impl Kind {
    /// The JSON Schema name of the type.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Object { .. } => "object",
            Kind::String { .. } => "string",
            Kind::Integer(_) => "integer",
            Kind::Number(_) => "number",
            Kind::Boolean => "boolean",
            Kind::Array { .. } => "array",
        }
    }
}

impl Schema {
    /// Validates `input`; the first problem found, in document order, is the error.
    pub fn validate(&self, input: &Value) -> Result<(), InputError> {
        self.check(input, &mut String::new())
    }

    /// The schema of top-level property `name`, when this is an object schema.
    pub fn property(&self, name: &str) -> Option<&Schema> {
        match &self.kind {
            Kind::Object { properties, .. } => {
                properties.iter().find(|(n, _)| n == name).map(|(_, s)| s)
            }
            _ => None,
        }
    }

    /// Is `name` a `required:` property of this object schema?
    pub fn requires(&self, name: &str) -> bool {
        matches!(&self.kind, Kind::Object { required, .. } if required.iter().any(|r| r == name))
    }

    fn check(&self, value: &Value, at: &mut String) -> Result<(), InputError> {
        let fail = |at: &String, message: String| {
            Err(InputError {
                pointer: at.clone(),
                message,
            })
        };
        match (&self.kind, value) {
            (Kind::Object { .. }, Value::Object(_))
            | (Kind::String { .. }, Value::String(_))
            | (Kind::Boolean, Value::Bool(_))
            | (Kind::Array { .. }, Value::Array(_))
            | (Kind::Number(_), Value::Number(_)) => {}
            (Kind::Integer(_), Value::Number(n)) if n.is_i64() || n.is_u64() => {}
            (kind, other) => {
                return fail(
                    at,
                    format!("{} is not {}", short(other), article(kind.name())),
                );
            }
        }
        if let Some(allowed) = &self.one_of
            && !allowed.contains(value)
        {
            let list: Vec<String> = allowed.iter().map(bare).collect();
            return fail(
                at,
                format!("{} is not one of [{}]", short(value), list.join(", ")),
            );
        }
        match (&self.kind, value) {
            (
                Kind::Object {
                    properties,
                    required,
                    additional,
                },
                Value::Object(map),
            ) => {
                for name in required {
                    if !map.contains_key(name) {
                        return fail(at, format!("missing required field `{name}`"));
                    }
                }
                for (name, field) in map {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&name.replace('~', "~0").replace('/', "~1"));
                    match properties.iter().find(|(n, _)| n == name) {
                        Some((_, schema)) => schema.check(field, at)?,
                        None if *additional => {}
                        None => return fail(at, "unknown field".to_owned()),
                    }
                    at.truncate(len);
                }
            }
            (
                Kind::String {
                    pattern,
                    min_length,
                    max_length,
                },
                Value::String(text),
            ) => {
                let chars = text.chars().count() as u64;
                if min_length.is_some_and(|m| chars < m) {
                    return fail(
                        at,
                        format!(
                            "{} is shorter than {} characters",
                            short(value),
                            min_length.unwrap_or(0)
                        ),
                    );
                }
                if let Some(max) = max_length.filter(|m| chars > *m) {
                    return fail(
                        at,
                        format!("{} is longer than {max} characters", short(value)),
                    );
                }
                if let Some(re) = pattern.as_ref().filter(|re| !re.is_match(text)) {
                    return fail(
                        at,
                        format!("{} does not match /{}/", short(value), re.as_str()),
                    );
                }
            }
            (Kind::Integer(bounds) | Kind::Number(bounds), Value::Number(n)) => {
                let Some(x) = n.as_f64() else {
                    return fail(at, format!("{n} is not a finite number"));
                };
                if let Some(min) = bounds.minimum.filter(|m| x < *m) {
                    return fail(at, format!("{n} is less than the minimum {min}"));
                }
                if let Some(max) = bounds.maximum.filter(|m| x > *m) {
                    return fail(at, format!("{n} is more than the maximum {max}"));
                }
            }
            (
                Kind::Array {
                    items,
                    min_items,
                    max_items,
                },
                Value::Array(list),
            ) => {
                let count = list.len() as u64;
                if let Some(min) = min_items.filter(|m| count < *m) {
                    return fail(at, format!("{count} items, fewer than the minimum {min}"));
                }
                if let Some(max) = max_items.filter(|m| count > *m) {
                    return fail(at, format!("{count} items, more than the maximum {max}"));
                }
                for (i, item) in list.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("/{i}"));
                    items.check(item, at)?;
                    at.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `an object`, `a string`, `an integer`.
fn article(name: &str) -> String {
    if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        format!("an {name}")
    } else {
        format!("a {name}")
    }
}

/// A value as shown in an error: JSON, cut at 60 characters.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

/// An `enum:` member as listed in an error: strings without quotes.
fn bare(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.name())
    }
}

#[cfg(test)]
mod tests;
