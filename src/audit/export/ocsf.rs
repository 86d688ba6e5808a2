//! An entry as an OCSF 1.3.0 HTTP Activity event (class 4002, category 4 Network Activity):
//! the method as the activity, the agent's address as the source, the target as the
//! destination, the decision as action and disposition, and keyward's own fields (rule,
//! decision, chain hashes, replica) under `unmapped`.

use std::net::SocketAddr;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::{AuditEntry, Decision};

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// HTTP Activity.
pub const CLASS_UID: u64 = 4002;
/// Network Activity.
pub const CATEGORY_UID: u64 = 4;

/// The event's JSON line, ending in `\n`.
pub fn line(entry: &AuditEntry) -> Vec<u8> {
    // Serializing a `Value` built of strings and numbers cannot fail.
    let mut out = serde_json::to_vec(&event(entry)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// The event for `entry`.
pub fn event(e: &AuditEntry) -> Value {
    let (activity_id, activity_name) = activity(&e.method);
    let allowed = matches!(e.decision, Decision::Allow | Decision::Approve);
    let (action_id, action, disposition_id, disposition) = if allowed {
        (1, "Allowed", 1, "Allowed")
    } else {
        (2, "Denied", 2, "Blocked")
    };
    let failed = e.decision == Decision::Error || e.status.is_some_and(|s| s >= 500);
    let (status_id, status) = if failed {
        (2, "Failure")
    } else {
        (1, "Success")
    };
    let severity_id = match e.decision {
        Decision::Allow | Decision::Approve => 1,
        Decision::Deny | Decision::RateLimited => 3,
        Decision::Error => 2,
    };
    let mut url = Map::new();
    url.insert("hostname".into(), Value::from(e.host.as_str()));
    url.insert("port".into(), Value::from(e.port));
    url.insert("path".into(), Value::from(e.path.as_str()));
    url.insert("scheme".into(), Value::from(e.scheme.as_str()));
    let mut url_string = format!("{}://{}:{}{}", e.scheme, e.host, e.port, e.path);
    if let Some(q) = &e.query {
        url.insert("query_string".into(), Value::from(q.as_str()));
        url_string.push('?');
        url_string.push_str(q);
    }
    url.insert("url_string".into(), Value::from(url_string));
    let mut response = Map::new();
    if let Some(code) = e.status {
        response.insert("code".into(), Value::from(code));
    }
    let mut event = json!({
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": CATEGORY_UID,
        "category_name": "Network Activity",
        "class_uid": CLASS_UID,
        "class_name": "HTTP Activity",
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": format!("HTTP Activity: {activity_name}"),
        "severity_id": severity_id,
        "time": epoch_millis(&e.time),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": e.request_id,
            "product": {
                "name": "keyward",
                "vendor_name": "keyward",
                "version": env!("CARGO_PKG_VERSION"),
            },
        },
        "http_request": { "http_method": e.method, "url": url },
        "http_response": response,
        "dst_endpoint": { "hostname": e.host, "port": e.port },
        "src_endpoint": source(&e.client),
        "action_id": action_id,
        "action": action,
        "disposition_id": disposition_id,
        "disposition": disposition,
        "status_id": status_id,
        "status": status,
        "duration": e.duration_ms.round() as u64,
        "traffic": { "bytes_in": e.bytes_in, "bytes_out": e.bytes_out },
        "unmapped": unmapped(e),
    });
    if let Some(obj) = event.as_object_mut() {
        if let Some(reason) = &e.reason {
            obj.insert("message".into(), Value::from(reason.as_str()));
        }
        if let (Some(trace), Some(metadata)) = (&e.trace_id, obj.get_mut("metadata")) {
            metadata["correlation_uid"] = Value::from(trace.as_str());
        }
        if let Some(agent) = &e.agent {
            obj.insert("actor".into(), json!({ "user": { "name": agent } }));
        }
    }
    event
}

/// keyward's fields that OCSF has no place for.
fn unmapped(e: &AuditEntry) -> Value {
    let mut m = Map::new();
    m.insert("decision".into(), Value::from(e.decision.as_str()));
    m.insert(
        "mode".into(),
        serde_json::to_value(e.mode).unwrap_or(Value::Null),
    );
    let optional = [
        ("rule", e.rule.as_ref().map(ToString::to_string)),
        ("failed_condition", e.failed_condition.clone()),
        ("action", e.action.clone()),
        ("mcp_method", e.mcp_method.clone()),
        ("mcp_tool", e.mcp_tool.clone()),
        ("graphql_operation", e.graphql_operation.clone()),
        ("replica", e.replica.clone()),
        ("trace_id", e.trace_id.clone()),
        ("span_id", e.span_id.clone()),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            m.insert(name.into(), Value::from(v));
        }
    }
    if !e.credentials.is_empty() {
        let names: Vec<String> = e.credentials.iter().map(ToString::to_string).collect();
        m.insert("credentials".into(), Value::from(names));
    }
    if let Some(seq) = e.seq {
        m.insert("seq".into(), Value::from(seq));
    }
    m.insert("prev_hash".into(), Value::from(e.prev_hash.as_str()));
    m.insert("hash".into(), Value::from(e.hash.as_str()));
    Value::Object(m)
}

/// The agent's address as an endpoint; a client that is not an address is a name.
fn source(client: &str) -> Value {
    match client.parse::<SocketAddr>() {
        Ok(addr) => json!({ "ip": addr.ip().to_string(), "port": addr.port() }),
        Err(_) => json!({ "name": client }),
    }
}

/// OCSF's activity for an HTTP method (99 Other, named, for the rest).
fn activity(method: &str) -> (u64, String) {
    let id = match method.to_ascii_uppercase().as_str() {
        "CONNECT" => 1,
        "DELETE" => 2,
        "GET" => 3,
        "HEAD" => 4,
        "OPTIONS" => 5,
        "POST" => 6,
        "PUT" => 7,
        "TRACE" => 8,
        _ => 99,
    };
    let name = match id {
        99 => method.to_owned(),
        _ => {
            let mut name = method.to_ascii_lowercase();
            if let Some(first) = name.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            name
        }
    };
    (id, name)
}

/// Milliseconds since the epoch of an entry's time (0 when it does not parse).
fn epoch_millis(time: &str) -> i64 {
    OffsetDateTime::parse(time, &Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_post_has_the_required_fields_of_class_4002() {
        let mut e = AuditEntry::new("r1", "127.0.0.1:5000", "POST", "https", "api.x", 443, "/a");
        e.time = "2026-11-25T19:15:00.123Z".into();
        e.reason = Some("no rule allows it".into());
        e.status = Some(403);
        e.agent = Some("bot".into());
        let v = event(&e);
        for key in [
            "activity_id",
            "category_uid",
            "class_uid",
            "severity_id",
            "time",
            "type_uid",
            "metadata",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        assert_eq!(v["class_uid"], 4002);
        assert_eq!(v["category_uid"], 4);
        assert_eq!(v["activity_id"], 6);
        assert_eq!(v["type_uid"], 400206);
        assert_eq!(v["time"], 1_795_634_100_123_i64);
        assert_eq!(v["metadata"]["version"], OCSF_VERSION);
        assert_eq!(v["metadata"]["product"]["name"], "keyward");
        assert_eq!(v["disposition_id"], 2);
        assert_eq!(v["http_response"]["code"], 403);
        assert_eq!(v["src_endpoint"]["ip"], "127.0.0.1");
        assert_eq!(v["actor"]["user"]["name"], "bot");
        assert_eq!(v["unmapped"]["decision"], "deny");
    }

    #[test]
    fn other_methods_are_named_activities() {
        assert_eq!(activity("PATCH"), (99, "PATCH".to_owned()));
        assert_eq!(activity("GET"), (3, "Get".to_owned()));
    }
}
