//! Compiles `tests:` entries into [`RuleTest`]s.

use std::collections::HashMap;

use super::{Ctx, Names};
use crate::policy::decision::Verdict;
use crate::policy::error::Pos;
use crate::policy::ids::{AgentId, RuleId};
use crate::policy::raw::{RawTest, RawVerdict};
use crate::policy::sample::SampleRequest;
use crate::policy::tests_runner::RuleTest;

/// Compiles one test entry; `None` when it has errors.
pub(super) fn compile_test(
    ctx: &mut Ctx<'_>,
    names: &Names,
    rule_ids: &HashMap<String, Pos>,
    raw: RawTest,
) -> Option<RuleTest> {
    let before = ctx.errors_len();
    let mut request = SampleRequest::parse(&raw.request.value)
        .map_err(|e| ctx.error_at(&raw.request, e.to_string()))
        .ok();
    if let Some(agent) = &raw.agent
        && !names.agents.contains(&agent.value)
    {
        ctx.error_at(agent, format!("unknown agent `{}`", agent.value));
    }
    if let Some(rule) = &raw.rule
        && !rule_ids.contains_key(&rule.value)
    {
        ctx.error_at(rule, format!("unknown rule `{}`", rule.value));
    }
    if let Some(request) = request.as_mut() {
        for (name, value) in &raw.headers.0 {
            let header = http::HeaderName::from_bytes(name.value.to_ascii_lowercase().as_bytes());
            match (header, http::HeaderValue::from_str(value)) {
                (Ok(h), Ok(v)) => {
                    request.headers.append(h, v);
                }
                _ => ctx.error_at(name, format!("invalid header `{}: {value}`", name.value)),
            }
        }
        request.body = raw.body.as_ref().map(|body| match body {
            serde_json::Value::String(text) => text.clone().into_bytes(),
            structured => {
                if !request.headers.contains_key(http::header::CONTENT_TYPE) {
                    request.headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                }
                structured.to_string().into_bytes()
            }
        });
    }
    if ctx.errors_len() != before {
        return None;
    }
    Some(RuleTest {
        pos: ctx.pos(&raw.request),
        text: raw.request.value.clone(),
        request: request?,
        agent: raw.agent.map(|a| AgentId::new(a.value)),
        expect: match raw.expect {
            RawVerdict::Allow => Verdict::Allow,
            RawVerdict::Deny => Verdict::Deny,
            RawVerdict::Approve => Verdict::Approve,
        },
        rule: raw.rule.map(|r| RuleId::new(r.value)),
    })
}
