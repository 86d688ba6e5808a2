//! The GraphQL operations of a request, in the forms servers accept: a JSON object
//! `{"query", "operationName", "variables", "extensions"}` or a batch (an array of them),
//! an `application/graphql` body (the document itself), and `GET ?query=&operationName=`.
//!
//! An Apollo persisted query (`extensions.persistedQuery.sha256Hash`) sent with its text
//! must hash to it; sent without it, the operation is kept as hash-only.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::document;
use super::{GraphqlOp, GraphqlOps};

/// Most operations of one batch; a longer batch is denied.
pub const MAX_BATCH: usize = 100;

/// The parameters of a GraphQL request; in the URL of a `POST` they are refused, since
/// servers disagree on whether the URL's or the body's win.
pub const PARAMS: [&str; 4] = ["query", "operationName", "variables", "extensions"];

/// Keys by which other persisted-document schemes (Relay, GraphQL Yoga, Hive) name a stored
/// document: a server may run that document instead of the text keyward reads, so a request
/// carrying one is refused.
const DOCUMENT_IDS: [&str; 4] = ["id", "doc_id", "documentId", "queryId"];

/// Reads a JSON body: one request object or a batch of them.
pub fn from_json(doc: &Value) -> Result<GraphqlOps, String> {
    match doc {
        Value::Array(items) if items.is_empty() => Err("the GraphQL batch is empty".to_owned()),
        Value::Array(items) if items.len() > MAX_BATCH => Err(format!(
            "the GraphQL batch has {} operations, more than {MAX_BATCH}",
            items.len()
        )),
        Value::Array(items) => {
            let ops = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    from_object(i, item).map_err(|e| format!("batch element {i}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(GraphqlOps { ops, batch: true })
        }
        other => Ok(GraphqlOps {
            ops: vec![from_object(0, other)?],
            batch: false,
        }),
    }
}

/// Reads an `application/graphql` body: the document, with no operation name.
pub fn from_document(bytes: &[u8]) -> Result<GraphqlOps, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| "the application/graphql body is not UTF-8".to_owned())?;
    let operation = document::operation(text, None)?;
    Ok(single(GraphqlOp {
        index: 0,
        operation: Some(operation),
        variables: None,
        persisted: None,
    }))
}

/// Reads the parameters of a `GET` (`query`, `operationName`, `variables`, `extensions`),
/// each given at most once; `param` returns a parameter's decoded values.
pub fn from_params(
    param: impl Fn(&str) -> Result<Option<Value>, String>,
) -> Result<GraphqlOps, String> {
    for name in DOCUMENT_IDS {
        if param(name)?.is_some() {
            return Err(document_id_error(name));
        }
    }
    let mut object = Map::new();
    for name in PARAMS {
        let value = match param(name)? {
            None => continue,
            Some(Value::String(text)) => text,
            Some(_) => return Err(format!("query parameter `{name}` is given more than once")),
        };
        let value = match name {
            "variables" | "extensions" => serde_json::from_str(&value)
                .map_err(|e| format!("query parameter `{name}` is not JSON: {e}"))?,
            _ => Value::String(value),
        };
        object.insert(name.to_owned(), value);
    }
    if object.is_empty() {
        return Err("the request has no GraphQL `query` parameter".to_owned());
    }
    Ok(single(from_object(0, &Value::Object(object))?))
}

/// One operation, not a batch.
fn single(op: GraphqlOp) -> GraphqlOps {
    GraphqlOps {
        ops: vec![op],
        batch: false,
    }
}

/// One request object of a JSON body.
fn from_object(index: usize, value: &Value) -> Result<GraphqlOp, String> {
    let Value::Object(object) = value else {
        return Err("not a GraphQL request object".to_owned());
    };
    if let Some(name) = DOCUMENT_IDS.iter().find(|k| object.contains_key(**k)) {
        return Err(document_id_error(name));
    }
    let text = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("\"{key}\" is not a string")),
    };
    let query = text("query")?;
    let operation_name = text("operationName")?;
    let variables = match object.get("variables") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err("\"variables\" is not an object".to_owned()),
    };
    let persisted = persisted_hash(object.get("extensions"))?;
    let operation = match (query, &persisted) {
        (Some(query), Some(hash)) => {
            let actual = sha256_hex(query);
            if &actual != hash {
                return Err(format!(
                    "the persisted query hash {hash} does not match the query text (sha256 {actual})"
                ));
            }
            Some(document::operation(query, operation_name)?)
        }
        (Some(query), None) => Some(document::operation(query, operation_name)?),
        (None, Some(_)) => None,
        (None, None) => return Err("no \"query\" and no persisted query hash".to_owned()),
    };
    Ok(GraphqlOp {
        index,
        operation,
        variables,
        persisted,
    })
}

/// `extensions.persistedQuery.sha256Hash`, lowercased; `Err` when it is there but not a
/// sha256 in hex.
fn persisted_hash(extensions: Option<&Value>) -> Result<Option<String>, String> {
    let persisted = match extensions {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(e)) => e.get("persistedQuery"),
        Some(_) => return Err("\"extensions\" is not an object".to_owned()),
    };
    let Some(persisted) = persisted.filter(|p| !p.is_null()) else {
        return Ok(None);
    };
    match persisted.get("sha256Hash") {
        Some(Value::String(hash)) if is_sha256_hex(hash) => Ok(Some(hash.to_ascii_lowercase())),
        _ => Err("extensions.persistedQuery has no sha256Hash of 64 hex digits".to_owned()),
    }
}

/// The refusal of a stored-document id.
fn document_id_error(name: &str) -> String {
    format!(
        "the request names a stored document by `{name}`, which keyward cannot inspect (only Apollo persisted query hashes are checked)"
    )
}

/// Whether `text` is 64 hex digits.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 of `text` in lowercase hex (Apollo's persisted query id).
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
