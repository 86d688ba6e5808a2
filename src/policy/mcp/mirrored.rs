//! The `Mcp-Method` and `Mcp-Name` headers an MCP client (protocol 2026-07-28 and later)
//! mirrors from its JSON-RPC body, so gateways and servers can route without reading it.
//!
//! keyward decides by the body; a server or gateway that routes by the headers would act on
//! something else when they disagree. So a body whose mirrored headers disagree with it, or
//! appear twice, or that mirror onto a batch, is denied (fail closed). A header that is
//! absent is fine: clients of earlier protocol versions send none.

use base64::Engine as _;
use http::HeaderMap;
use serde_json::Value;

use super::{PROMPTS_GET, RESOURCES_READ, TOOLS_CALL};

/// The header carrying the body's JSON-RPC method.
pub const MCP_METHOD: &str = "mcp-method";

/// The header carrying the tool or prompt name, or the resource URI, of a call.
pub const MCP_NAME: &str = "mcp-name";

/// Why the mirrored headers of `headers` disagree with the JSON-RPC body `doc`; `None` when
/// they agree or are absent.
pub fn mismatch(headers: &HeaderMap, doc: &Value) -> Option<String> {
    let (method, name) = match (one(headers, MCP_METHOD), one(headers, MCP_NAME)) {
        (Ok(method), Ok(name)) => (method, name),
        (Err(why), _) | (_, Err(why)) => return Some(why),
    };
    if method.is_none() && name.is_none() {
        return None;
    }
    let Value::Object(call) = doc else {
        return Some("a JSON-RPC batch with the Mcp-Method or Mcp-Name header".to_owned());
    };
    let body_method = call
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(method) = method
        && method != body_method
    {
        return Some(format!(
            "the Mcp-Method header does not match the body's method `{body_method}`"
        ));
    }
    let key = match body_method {
        TOOLS_CALL | PROMPTS_GET => "name",
        RESOURCES_READ => "uri",
        _ if name.is_some() => {
            return Some(format!(
                "the Mcp-Name header on `{body_method}`, which names nothing"
            ));
        }
        _ => return None,
    };
    let body_name = call.get("params").and_then(|p| p.get(key));
    match (name, body_name) {
        (Some(name), Some(Value::String(body_name)))
            if decode(&name).as_ref() == Some(body_name) =>
        {
            None
        }
        (Some(_), _) => Some(format!(
            "the Mcp-Name header does not match the body's params.{key}"
        )),
        (None, _) => None,
    }
}

/// The one value of header `name` (`None` when absent); `Err` when it appears more than
/// once or is not visible ASCII.
fn one(headers: &HeaderMap, name: &str) -> Result<Option<String>, String> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(format!("the {name} header appears more than once"));
    }
    match first.to_str() {
        Ok(value) => Ok(Some(value.to_owned())),
        Err(_) => Err(format!("the {name} header is not visible ASCII")),
    }
}

/// A header value as the client wrote it: `=?base64?PAYLOAD?=` for a name that is not
/// visible ASCII, else the value itself; `None` when the payload does not decode to UTF-8.
fn decode(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_owned());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn call(tool: &str) -> Value {
        json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool}})
    }

    #[test]
    fn headers_that_mirror_the_body_or_are_absent_pass() {
        assert_eq!(mismatch(&HeaderMap::new(), &call("search_issues")), None);
        let h = headers(&[(MCP_METHOD, "tools/call"), (MCP_NAME, "search_issues")]);
        assert_eq!(mismatch(&h, &call("search_issues")), None);
        let h = headers(&[(MCP_METHOD, "tools/list")]);
        let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
        assert_eq!(mismatch(&h, &list), None);
        let encoded = base64::engine::general_purpose::STANDARD.encode("créer");
        let h = headers(&[(MCP_NAME, &format!("=?base64?{encoded}?="))]);
        assert_eq!(mismatch(&h, &call("créer")), None);
        let read =
            json!({"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///a"}});
        let h = headers(&[(MCP_METHOD, "resources/read"), (MCP_NAME, "file:///a")]);
        assert_eq!(mismatch(&h, &read), None);
    }

    #[test]
    fn headers_that_disagree_with_the_body_are_a_mismatch() {
        let h = headers(&[(MCP_METHOD, "tools/call"), (MCP_NAME, "delete_repo")]);
        assert_eq!(
            mismatch(&h, &call("search_issues")).as_deref(),
            Some("the Mcp-Name header does not match the body's params.name")
        );
        let h = headers(&[(MCP_METHOD, "tools/list")]);
        assert_eq!(
            mismatch(&h, &call("search_issues")).as_deref(),
            Some("the Mcp-Method header does not match the body's method `tools/call`")
        );
        let h = headers(&[(MCP_NAME, "search_issues"), (MCP_NAME, "delete_repo")]);
        assert!(mismatch(&h, &call("search_issues")).is_some(), "twice");
        let h = headers(&[(MCP_NAME, "=?base64?%%%?=")]);
        assert!(mismatch(&h, &call("search_issues")).is_some(), "bad base64");
        let h = headers(&[(MCP_NAME, "search_issues")]);
        let list = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
        assert!(
            mismatch(&h, &list).is_some(),
            "a name on a call naming nothing"
        );
        let batch = json!([call("search_issues")]);
        let h = headers(&[(MCP_METHOD, "tools/call")]);
        assert!(mismatch(&h, &batch).is_some(), "a batch");
    }
}
