//! Learn mode (`--learn`): a denial or hold by the rules becomes a forward, its would-be
//! outcome kept for the record; and the names a request carried (a JSON object body's
//! top-level fields, the credential headers present, never their values) noted for
//! `keyward rules suggest`. Refusals that do not come from the rules (framing, pinning,
//! destinations, placeholders, the audit trail) are made before or after this step, as
//! always.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

use crate::audit::{Observed, WouldRecord};
use crate::pipeline::read_body::AgentBody;
use crate::pipeline::record::verdict_decision;
use crate::policy::{Decision, Verdict};

/// Request headers that carry credentials: their presence is recorded, never their value.
const AUTH_HEADERS: &[&str] = &[
    "authorization",
    "x-api-key",
    "api-key",
    "x-auth-token",
    "private-token",
    "x-goog-api-key",
    "cookie",
];

/// Most top-level JSON field names noted for one request.
const MAX_FIELDS: usize = 64;

/// Longest field name noted; longer names are left out rather than cut.
const MAX_FIELD_CHARS: usize = 64;

/// The reason of an exchange forwarded though the rules deny it.
const FORWARDED_DENIAL: &str = "learn mode: forwarded what the rules would deny";

/// The reason of an exchange forwarded though the rules hold it for a person.
const FORWARDED_HOLD: &str = "learn mode: forwarded without the approval the rules require";

/// Turns a denial or hold into an allow, returning what the rules would have decided.
/// A denial forwards with no rule (nothing injected, no rule's private range opened); a
/// hold forwards with its rule (its credentials, limits and redaction), unheld.
pub fn let_through(decision: &mut Decision) -> Option<WouldRecord> {
    if decision.verdict == Verdict::Allow {
        return None;
    }
    let would = WouldRecord {
        decision: verdict_decision(decision.verdict),
        failed_condition: decision.failed_condition.take(),
        reason: std::mem::take(&mut decision.reason),
        rule: decision.rule.clone(),
    };
    if decision.verdict == Verdict::Deny {
        decision.rule = None;
        decision.inject.clear();
        decision.captures.clear();
        decision.mcp = None;
        decision.graphql = None;
        decision.reason = FORWARDED_DENIAL.to_owned();
    } else {
        decision.reason = FORWARDED_HOLD.to_owned();
    }
    decision.verdict = Verdict::Allow;
    Some(would)
}

/// The names `headers` and the read-ahead `body` carry.
pub fn observe(headers: &HeaderMap, body: &AgentBody) -> Observed {
    let auth = AUTH_HEADERS
        .iter()
        .filter(|name| headers.contains_key(**name))
        .map(|name| (*name).to_owned())
        .collect();
    Observed {
        auth,
        json_fields: json_fields(headers, body),
    }
}

/// The top-level field names of a complete, uncompressed JSON object body, sorted.
fn json_fields(headers: &HeaderMap, body: &AgentBody) -> Vec<String> {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    let AgentBody::Read { read, .. } = body else {
        return Vec::new();
    };
    if !json || read.is_partial() || headers.contains_key(CONTENT_ENCODING) {
        return Vec::new();
    }
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(read.head()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = object
        .keys()
        .filter(|k| is_field_name(k))
        .take(MAX_FIELDS)
        .cloned()
        .collect();
    names.sort();
    names
}

/// A name worth noting: short, of letters, digits and `_`, `-`, `.`, `$`, `@`.
fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_FIELD_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$' | '@'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RuleId;

    #[test]
    fn a_denial_forwards_without_its_rule_and_keeps_the_would_be_outcome() {
        let mut d = Decision::deny("no rule allows GET https://x/");
        d.rule = Some(RuleId::new("block"));
        d.failed_condition = Some("/a equals 1".into());
        let would = let_through(&mut d).unwrap();
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.rule, None);
        assert_eq!(would.rule, Some(RuleId::new("block")));
        assert_eq!(would.reason, "no rule allows GET https://x/");
        assert_eq!(would.failed_condition.as_deref(), Some("/a equals 1"));
        assert_eq!(would.decision, crate::audit::Decision::Deny);
    }

    #[test]
    fn a_hold_forwards_with_its_rule_and_an_allow_is_untouched() {
        let mut d = Decision::deny("approval required");
        d.verdict = Verdict::Approve;
        d.rule = Some(RuleId::new("held"));
        let would = let_through(&mut d).unwrap();
        assert_eq!(
            (d.verdict, d.rule.clone()),
            (Verdict::Allow, Some("held".into()))
        );
        assert_eq!(would.decision, crate::audit::Decision::Approve);
        assert_eq!(let_through(&mut d), None);
    }

    #[test]
    fn top_level_names_of_a_json_object_body_and_auth_header_names_are_observed() {
        use crate::pipeline::read_body::Prefetched;
        let bytes = bytes::Bytes::from_static(br#"{"title":"x","labels":["a"],"a b":1}"#);
        let body = AgentBody::Read {
            read: Prefetched::Complete(bytes.clone()),
            sent: bytes,
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        headers.insert("authorization", "Bearer s3cr3t".parse().unwrap());
        let seen = observe(&headers, &body);
        assert_eq!(seen.json_fields, ["labels", "title"]);
        assert_eq!(seen.auth, ["authorization"]);
        assert!(!format!("{seen:?}").contains("s3cr3t"));
        headers.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(observe(&headers, &body).json_fields.is_empty());
    }

    #[test]
    fn field_names_are_plain_short_names() {
        assert!(is_field_name("title") && is_field_name("$ref") && is_field_name("a.b-c_d"));
        assert!(!is_field_name("") && !is_field_name("a b") && !is_field_name(&"x".repeat(65)));
    }
}
