//! Compiles `actions:` entries: names, the input schema, the request templates checked
//! against the schema, response fields, and the rule-like extras; every error positioned.

use std::collections::HashMap;

use crate::actions::raw::RawAction;
use crate::actions::schema::{Kind, Schema};
use crate::actions::shape::{Shape, parse_field};
use crate::actions::template::{BodyTemplate, Piece, TextTemplate, UrlTemplate};
use crate::actions::{Action, RequestTemplate};
use crate::policy::compile::{Compiled, Ctx, Names, extras, parse_method_text};
use crate::policy::decision::Verdict;
use crate::policy::error::Pos;
use crate::policy::ids::{AgentId, SecretName};
use crate::policy::raw::RawVerdict;
use crate::policy::url_pattern::HostPattern;

mod schema;

use schema::compile_schema;

/// Headers the proxy owns: an action may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
];

/// Compiles one file's actions; `seen` holds the names of earlier ones (duplicates are errors).
pub(crate) fn compile_actions(
    ctx: &mut Ctx<'_>,
    names: &Names,
    out: &Compiled,
    raw: Vec<RawAction>,
    seen: &mut HashMap<String, Pos>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for action in raw {
        let pos = ctx.pos(&action.name);
        if let Some(first) = seen.get(&action.name.value) {
            let message = format!(
                "duplicate action name `{}` (first defined at {first})",
                action.name.value
            );
            ctx.errors.push(pos, message);
        } else {
            seen.insert(action.name.value.clone(), pos);
        }
        if let Some(action) = compile_action(ctx, names, out, action) {
            actions.push(action);
        }
    }
    actions
}

/// Compiles one action; `None` when it has errors (all of them recorded).
fn compile_action(
    ctx: &mut Ctx<'_>,
    names: &Names,
    out: &Compiled,
    raw: RawAction,
) -> Option<Action> {
    let before = ctx.errors_len();
    if !is_action_name(&raw.name.value) {
        ctx.error_at(&raw.name, format!("invalid action name `{}` (lowercase words joined by `.`, e.g. `github.create_issue`)", raw.name.value));
    }
    if raw.description.value.trim().is_empty() {
        ctx.error_at(
            &raw.description,
            "empty description (the model reads it to choose the action)",
        );
    }
    let agents = raw.agents.as_ref().map(|list| {
        list.iter()
            .filter_map(|a| {
                if names.agents.contains(&a.value) {
                    Some(AgentId::new(a.value.clone()))
                } else {
                    ctx.error_at(a, format!("unknown agent `{}`", a.value));
                    None
                }
            })
            .collect()
    });
    let input = compile_schema(ctx, &raw.name, &raw.input);
    if let Some(schema) = &input
        && !matches!(schema.kind, Kind::Object { .. })
    {
        ctx.error_at(
            &raw.name,
            format!(
                "the input of action `{}` must be `type: object`",
                raw.name.value
            ),
        );
    }
    let method = parse_method_text(&raw.request.method.value)
        .map_err(|e| ctx.error_at(&raw.request.method, e))
        .ok();
    let url = UrlTemplate::parse(&raw.request.url.value)
        .map_err(|e| ctx.error_at(&raw.request.url, e))
        .ok();
    let mut headers = Vec::new();
    for (name, value) in &raw.request.headers.0 {
        let lower = name.value.to_ascii_lowercase();
        let Ok(header) = http::HeaderName::from_bytes(lower.as_bytes()) else {
            ctx.error_at(name, format!("invalid header name `{}`", name.value));
            continue;
        };
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            ctx.error_at(
                name,
                format!("header `{lower}` is set by the proxy, not by an action"),
            );
            continue;
        }
        match TextTemplate::parse(&value.value) {
            Ok(t) => {
                let bad_text = t.0.iter().any(|p| {
                    matches!(p, Piece::Text(text) if http::HeaderValue::from_str(text).is_err())
                });
                if bad_text {
                    ctx.error_at(
                        value,
                        format!("invalid header value text in `{}`", value.value),
                    );
                }
                headers.push((header, t, value));
            }
            Err(e) => ctx.error_at(value, e),
        }
    }
    let body = raw.request.body.as_ref().and_then(|b| {
        BodyTemplate::parse(&b.value)
            .map_err(|e| ctx.error_at(b, e))
            .ok()
    });

    if let (Some(schema), Some(url)) = (&input, &url) {
        let at = &raw.request.url;
        for param in url.path_params() {
            check_param(ctx, schema, at, param, true);
        }
        for param in url.query_params() {
            check_param(ctx, schema, at, param, false);
        }
        for (_, template, at) in &headers {
            for param in template.params() {
                check_param(ctx, schema, at, param, false);
            }
        }
        if let (Some(body), Some(at)) = (&body, &raw.request.body) {
            let mut found = Vec::new();
            body.visit_params(&mut |p, alone| found.push((p.to_owned(), alone)));
            for (param, alone) in found {
                check_param(ctx, schema, at, &param, !alone);
            }
        }
    }

    let shape = Shape {
        fields: raw.response.as_ref().map_or_else(Vec::new, |r| {
            r.fields
                .iter()
                .filter_map(|f| parse_field(&f.value).map_err(|e| ctx.error_at(f, e)).ok())
                .collect()
        }),
    };
    let verdict = raw.decision.map(|d| match d {
        RawVerdict::Allow => Verdict::Allow,
        RawVerdict::Deny => Verdict::Deny,
        RawVerdict::Approve => Verdict::Approve,
    });
    let limits = raw
        .limits
        .as_ref()
        .and_then(|l| extras::limits(ctx, &raw.name, l));
    if limits.as_ref().is_some_and(|l| l.tokens.is_some()) {
        let message = format!(
            "action `{}` has a token budget: an action's `limits:` take `rate:`; put `tokens:` on the rule of the LLM endpoint",
            raw.name.value
        );
        ctx.error_at(&raw.name, message);
    }
    if raw.approval.is_some() && verdict != Some(Verdict::Approve) {
        let message = format!(
            "action `{}` has `approval:` but its decision is not approve",
            raw.name.value
        );
        ctx.error_at(&raw.name, message);
    }
    // The verdict was checked above; the shared check only parses the timeout and webhook.
    let approval = raw
        .approval
        .as_ref()
        .and_then(|a| extras::approval(ctx, &raw.name, Verdict::Approve, a));
    let host = url.as_ref().and_then(|u| HostPattern::parse(u.host()).ok());
    let mut inject = Vec::new();
    for name in &raw.inject {
        match names.secrets.get(&name.value) {
            None => ctx.error_at(name, format!("unknown secret `{}`", name.value)),
            Some(None) => {}
            Some(Some(i)) => {
                if let (Some(secret), Some(host)) = (out.secrets.get(*i), &host)
                    && !secret.allows_host(host)
                {
                    ctx.error_at(
                        name,
                        format!("secret `{}` may not be sent to `{host}`", name.value),
                    );
                }
                inject.push(SecretName::new(name.value.clone()));
            }
        }
    }

    if ctx.errors_len() != before {
        return None;
    }
    Some(Action {
        name: raw.name.value.clone(),
        description: raw.description.value,
        pos: ctx.pos(&raw.name),
        agents,
        input: input?,
        request: RequestTemplate {
            method: method?,
            url: url?,
            headers: headers.into_iter().map(|(n, t, _)| (n, t)).collect(),
            body,
        },
        shape,
        verdict,
        approval,
        limits,
        inject,
    })
}

/// A template parameter must be a top-level input property, and required where it cannot
/// be left out (`required`: path segments and interpolated body strings).
fn check_param<T>(
    ctx: &mut Ctx<'_>,
    schema: &Schema,
    at: &serde_saphyr::Spanned<T>,
    param: &str,
    required: bool,
) {
    if schema.property(param).is_none() {
        ctx.error_at(
            at,
            format!("parameter `{{{param}}}` is not a property of the input schema"),
        );
    } else if required && !schema.requires(param) {
        ctx.error_at(at, format!("parameter `{{{param}}}` must be listed in the input's `required:` (it cannot be left out here)"));
    }
}

/// Action names: lowercase words (`a-z`, digits, `_`, starting with a letter) joined by `.`,
/// at most 64 characters (what MCP clients accept as a tool name).
fn is_action_name(name: &str) -> bool {
    name.len() <= 64
        && name.split('.').all(|word| {
            word.starts_with(|c: char| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

#[cfg(test)]
mod tests;
