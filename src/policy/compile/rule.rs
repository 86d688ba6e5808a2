//! Compiles one `rules:` entry: selector, conditions, body, decision and extras.

use super::decls::parse_method;
use super::{Compiled, Ctx, Names, checks, extras, graphql, mcp};
use crate::policy::body::DEFAULT_MAX_SIZE;
use crate::policy::decision::{Mode, Verdict};
use crate::policy::ids::{AgentId, RuleId, SecretName};
use crate::policy::raw::{OneOrMany, RawAdmit, RawMode, RawRule, RawVerdict, SStr};
use crate::policy::rule::{BodyRules, Rule, Subject};
use crate::policy::spelling::Spellings;
use crate::policy::url_pattern::{HostPattern, UrlPattern};

/// Compiles a rule; `None` when it has errors (all of them recorded).
pub(super) fn compile_rule(
    ctx: &mut Ctx<'_>,
    names: &Names,
    out: &Compiled,
    raw: RawRule,
) -> Option<Rule> {
    let before = ctx.errors_len();
    let id = raw.id.value.clone();
    if !is_rule_id(&id) {
        ctx.error_at(
            &raw.id,
            format!(
                "invalid rule id `{id}` (use letters, digits, `-`, `_`, `.`; `allow:` is reserved)"
            ),
        );
    }
    let agents = raw.agents.as_ref().map(|list| {
        let mut agents = Vec::new();
        for agent in list {
            if names.agents.contains(&agent.value) {
                agents.push(AgentId::new(agent.value.clone()));
            } else {
                ctx.error_at(agent, format!("unknown agent `{}`", agent.value));
            }
        }
        agents
    });
    let methods = raw.method.as_ref().and_then(|m| {
        let texts: Vec<String> = match &m.value {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        };
        if texts.iter().any(|t| t == "*") {
            return None;
        }
        if texts.is_empty() {
            ctx.error_at(m, "`method:` list is empty");
        }
        let spanned = |t: &String| serde_saphyr::Spanned::new(t.clone(), m.referenced, m.defined);
        Some(
            texts
                .iter()
                .filter_map(|t| parse_method(ctx, &spanned(t)))
                .collect::<Vec<_>>(),
        )
    });
    let url = UrlPattern::parse(&raw.url.value)
        .map_err(|e| ctx.error_at(&raw.url, e.to_string()))
        .ok();

    let mut rule_checks = Vec::new();
    for (name, cond) in &raw.query.0 {
        if name.value.is_empty() {
            ctx.error_at(name, "empty query parameter name");
        }
        let subject = Subject::Query(name.value.clone());
        checks::push_check(ctx, &mut rule_checks, name, subject, cond);
    }
    for (name, cond) in &raw.headers.0 {
        match http::HeaderName::from_bytes(name.value.to_ascii_lowercase().as_bytes()) {
            Ok(header) => {
                checks::push_check(ctx, &mut rule_checks, name, Subject::Header(header), cond)
            }
            Err(_) => ctx.error_at(name, format!("invalid header name `{}`", name.value)),
        }
    }
    for (name, cond) in &raw.captures.0 {
        let known = url
            .as_ref()
            .is_none_or(|u| u.path.capture_names().any(|c| c == name.value));
        if !known {
            ctx.error_at(
                name,
                format!(
                    "unknown capture `{}`: the url has no `{{{}}}`",
                    name.value, name.value
                ),
            );
        }
        let subject = Subject::Capture(name.value.clone());
        checks::push_check(ctx, &mut rule_checks, name, subject, cond);
    }
    let mut body = raw
        .body
        .as_ref()
        .map(|b| checks::compile_body(ctx, names, out, b, &mut rule_checks));
    let mcp = raw.mcp.as_ref().map(|m| mcp::compile_mcp(ctx, m));
    let graphql = raw
        .graphql
        .as_ref()
        .map(|g| graphql::compile_graphql(ctx, g));
    if let (Some(_), Some(at)) = (&mcp, &raw.graphql) {
        ctx.error_at(at, "a rule has `mcp:` or `graphql:`, not both");
    }
    if (mcp.is_some() || graphql.is_some()) && body.is_none() {
        // An `mcp:` or `graphql:` rule reads the body: it inspects it within the default size.
        body = Some(BodyRules {
            max_size: DEFAULT_MAX_SIZE,
            must_match: Vec::new(),
            must_not_match: Vec::new(),
        });
    }

    let verdict = match raw.decision {
        RawVerdict::Allow => Verdict::Allow,
        RawVerdict::Deny => Verdict::Deny,
        RawVerdict::Approve => Verdict::Approve,
    };
    let mode = match raw.mode {
        None | Some(RawMode::Enforce) => Mode::Enforce,
        Some(RawMode::Shadow) => Mode::Shadow,
    };

    let host = url.as_ref().map(|u| &u.host);
    let inject = raw
        .inject
        .iter()
        .filter_map(|name| bound_secret(ctx, names, out, host, name))
        .collect();
    let set_headers = extras::set_headers(ctx, names, &raw.set_headers, &raw.inject);
    let sign = raw.sign.as_ref().and_then(|s| {
        bound_secret(ctx, names, out, host, &s.secret)?;
        super::signing::signing(ctx, s)
    });
    let limits = raw
        .limits
        .as_ref()
        .and_then(|l| extras::limits(ctx, &raw.id, l));
    let approval = raw
        .approval
        .as_ref()
        .and_then(|a| extras::approval(ctx, &raw.id, verdict, a));
    let response = raw
        .response
        .as_ref()
        .map(|r| extras::response(ctx, names, r));
    let allow_private = extras::allow_private(ctx, &raw.allow_private);

    if ctx.errors_len() != before {
        return None;
    }
    let url = url?;
    Some(Rule {
        selector: Rule::selector_text(methods.as_deref(), &url),
        id: RuleId::new(id),
        description: raw.description,
        pos: ctx.pos(&raw.id),
        agents,
        methods,
        url,
        checks: rule_checks,
        body,
        mcp,
        graphql,
        verdict,
        mode,
        inject,
        inject_body: raw.inject_body,
        set_headers,
        sign,
        limits,
        approval,
        response,
        allow_private,
        path_spellings: raw
            .path_spellings
            .as_ref()
            .map_or_else(Spellings::default, |p| Spellings {
                empty_segments: p.empty_segments == Some(RawAdmit::Allow),
                parameters: p.parameters == Some(RawAdmit::Allow),
            }),
    })
}

/// Rule ids: letters, digits, `-`, `_`, `.`, not starting with the reserved `allow:`.
fn is_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A secret a rule uses (`inject:`, `sign.secret`): declared, and bound to the rule's host.
fn bound_secret(
    ctx: &mut Ctx<'_>,
    names: &Names,
    out: &Compiled,
    host: Option<&HostPattern>,
    name: &SStr,
) -> Option<SecretName> {
    match names.secrets.get(&name.value) {
        None => {
            ctx.error_at(name, format!("unknown secret `{}`", name.value));
            None
        }
        Some(None) => None,
        Some(Some(i)) => {
            if let (Some(secret), Some(host)) = (out.secrets.get(*i), host)
                && !secret.allows_host(host)
            {
                let hosts: Vec<String> = secret.hosts.iter().map(ToString::to_string).collect();
                ctx.error_at(
                    name,
                    format!(
                        "secret `{}` may not be sent to `{}` (its hosts: {})",
                        name.value,
                        host,
                        hosts.join(", ")
                    ),
                );
            }
            Some(SecretName::new(name.value.clone()))
        }
    }
}
