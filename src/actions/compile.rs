//! Compiles `actions:` entries: names, the input schema, the request templates checked
//! against the schema, response fields, and the rule-like extras; every error positioned.

use std::collections::HashMap;

use crate::actions::raw::{RawAction, RawSchema};
use crate::actions::schema::{Bounds, Kind, Schema};
use crate::actions::shape::{Shape, parse_field};
use crate::actions::template::{BodyTemplate, TextTemplate, UrlTemplate};
use crate::actions::{Action, RequestTemplate};
use crate::policy::compile::{
    Compiled, Ctx, Names, REGEX_SIZE_LIMIT, extras, parse_method_text, regex_error,
};
use crate::policy::decision::Verdict;
use crate::policy::error::Pos;
use crate::policy::ids::{AgentId, SecretName};
use crate::policy::raw::{RawVerdict, SStr};
use crate::policy::url_pattern::HostPattern;

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
            Ok(t) => headers.push((header, t, value)),
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
    let approval = raw
        .approval
        .as_ref()
        .and_then(|a| extras::approval(ctx, &raw.name, verdict.unwrap_or(Verdict::Allow), a));
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

/// Compiles a schema node; `at` is where errors without a better position go.
fn compile_schema(ctx: &mut Ctx<'_>, at: &SStr, raw: &RawSchema) -> Option<Schema> {
    let Some(kind_text) = &raw.kind else {
        ctx.error_at(
            at,
            "schema has no `type:` (object, string, integer, number, boolean or array)",
        );
        return None;
    };
    let at = kind_text;
    let misplaced = |ctx: &mut Ctx<'_>, used: bool, keyword: &str| {
        if used {
            ctx.error_at(
                at,
                format!("`{keyword}` does not apply to type `{}`", at.value),
            );
        }
    };
    let is_obj = kind_text.value == "object";
    misplaced(ctx, !is_obj && !raw.properties.0.is_empty(), "properties");
    misplaced(ctx, !is_obj && !raw.required.is_empty(), "required");
    misplaced(
        ctx,
        !is_obj && raw.additional_properties.is_some(),
        "additionalProperties",
    );
    let is_str = kind_text.value == "string";
    misplaced(ctx, !is_str && raw.pattern.is_some(), "pattern");
    misplaced(ctx, !is_str && raw.min_length.is_some(), "minLength");
    misplaced(ctx, !is_str && raw.max_length.is_some(), "maxLength");
    let is_num = matches!(kind_text.value.as_str(), "integer" | "number");
    misplaced(ctx, !is_num && raw.minimum.is_some(), "minimum");
    misplaced(ctx, !is_num && raw.maximum.is_some(), "maximum");
    let is_arr = kind_text.value == "array";
    misplaced(ctx, !is_arr && raw.items.is_some(), "items");
    misplaced(ctx, !is_arr && raw.min_items.is_some(), "minItems");
    misplaced(ctx, !is_arr && raw.max_items.is_some(), "maxItems");

    let kind = match kind_text.value.as_str() {
        "object" => {
            let mut properties = Vec::new();
            for (name, sub) in &raw.properties.0 {
                if let Some(schema) = compile_schema(ctx, name, sub) {
                    properties.push((name.value.clone(), schema));
                }
            }
            for name in &raw.required {
                if !raw.properties.0.iter().any(|(n, _)| n.value == name.value) {
                    ctx.error_at(
                        name,
                        format!("required field `{}` is not in `properties:`", name.value),
                    );
                }
            }
            Kind::Object {
                properties,
                required: raw.required.iter().map(|r| r.value.clone()).collect(),
                additional: raw.additional_properties.unwrap_or(false),
            }
        }
        "string" => {
            let pattern = raw.pattern.as_ref().and_then(|p| {
                regex::RegexBuilder::new(&p.value)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| {
                        ctx.error_at(
                            p,
                            format!("invalid pattern `{}`: {}", p.value, regex_error(&e)),
                        )
                    })
                    .ok()
            });
            if let (Some(min), Some(max)) = (raw.min_length, raw.max_length)
                && min > max
            {
                ctx.error_at(at, format!("minLength {min} is more than maxLength {max}"));
            }
            Kind::String {
                pattern,
                min_length: raw.min_length,
                max_length: raw.max_length,
            }
        }
        "integer" | "number" => {
            if let (Some(min), Some(max)) = (raw.minimum, raw.maximum)
                && min > max
            {
                ctx.error_at(at, format!("minimum {min} is more than maximum {max}"));
            }
            let bounds = Bounds {
                minimum: raw.minimum,
                maximum: raw.maximum,
            };
            if kind_text.value == "integer" {
                Kind::Integer(bounds)
            } else {
                Kind::Number(bounds)
            }
        }
        "boolean" => Kind::Boolean,
        "array" => {
            let Some(items) = &raw.items else {
                ctx.error_at(at, "an array needs `items:` (the schema of its elements)");
                return None;
            };
            if let (Some(min), Some(max)) = (raw.min_items, raw.max_items)
                && min > max
            {
                ctx.error_at(at, format!("minItems {min} is more than maxItems {max}"));
            }
            Kind::Array {
                items: Box::new(compile_schema(ctx, at, items)?),
                min_items: raw.min_items,
                max_items: raw.max_items,
            }
        }
        other => {
            ctx.error_at(
                at,
                format!(
                    "unknown type `{other}` (object, string, integer, number, boolean or array)"
                ),
            );
            return None;
        }
    };
    let schema = Schema {
        kind,
        one_of: raw.one_of.clone(),
        description: raw.description.clone(),
    };
    if let Some(values) = &raw.one_of {
        if values.is_empty() {
            ctx.error_at(at, "`enum:` is empty");
        }
        let open = Schema {
            one_of: None,
            ..schema.clone()
        };
        for value in values {
            if let Err(e) = open.validate(value) {
                ctx.error_at(at, format!("`enum:` member {value}: {}", e.message));
            }
        }
    }
    Some(schema)
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
