//! Compiles the carried rule parts: `set_headers`, `limits`, `approval`, `response`,
//! `allow_private`.

use super::{Ctx, Names};
use crate::policy::decision::Verdict;
use crate::policy::extras::{
    Approval, HeaderTemplate, LimitScope, Limits, RequestRate, ResponseRedaction, TemplatePart,
    TokenBudget, parse_cidr, parse_template,
};
use crate::policy::json::JsonPath;
use crate::policy::raw::{OrderedMap, RawApproval, RawLimits, RawPer, RawResponse, SStr};
use crate::policy::units::{parse_duration, parse_rate, parse_token_budget};

/// `set_headers:` — valid names, valid literal text, secrets declared and injected.
pub(super) fn set_headers(
    ctx: &mut Ctx<'_>,
    names: &Names,
    raw: &OrderedMap<SStr>,
    inject: &[SStr],
) -> Vec<HeaderTemplate> {
    let mut out = Vec::new();
    for (name, value) in &raw.0 {
        let header = match http::HeaderName::from_bytes(name.value.to_ascii_lowercase().as_bytes())
        {
            Ok(h) => h,
            Err(_) => {
                ctx.error_at(name, format!("invalid header name `{}`", name.value));
                continue;
            }
        };
        let parts = match parse_template(&value.value) {
            Ok(parts) => parts,
            Err(e) => {
                ctx.error_at(value, e);
                continue;
            }
        };
        for part in &parts {
            match part {
                TemplatePart::Text(text) if http::HeaderValue::from_str(text).is_err() => {
                    ctx.error_at(value, format!("invalid header value text `{text}`"));
                }
                TemplatePart::Secret(secret) if !names.secrets.contains_key(secret.as_str()) => {
                    ctx.error_at(value, format!("unknown secret `{secret}`"));
                }
                TemplatePart::Secret(secret) if names.aws_secrets.contains(secret.as_str()) => {
                    ctx.error_at(
                        value,
                        format!("secret `{secret}` of kind aws signs requests; it has no value for a header"),
                    );
                }
                TemplatePart::Secret(secret)
                    if !inject.iter().any(|i| i.value == secret.as_str()) =>
                {
                    ctx.error_at(
                        value,
                        format!("secret `{secret}` is used but not listed in `inject:`"),
                    );
                }
                _ => {}
            }
        }
        out.push(HeaderTemplate {
            name: header,
            parts,
        });
    }
    out
}

/// `limits:` — rate `N/unit` with an optional burst, a token budget `N/unit`, or both;
/// and the scope.
pub(crate) fn limits(ctx: &mut Ctx<'_>, id: &SStr, raw: &RawLimits) -> Option<Limits> {
    if raw.rate.is_none() && raw.tokens.is_none() {
        ctx.error_at(
            id,
            format!(
                "rule `{}` has `limits:` without `rate:` or `tokens:`",
                id.value
            ),
        );
        return None;
    }
    if raw.rate.is_none() && raw.burst.is_some() {
        ctx.error_at(
            id,
            format!("rule `{}` has `limits.burst:` without `rate:`", id.value),
        );
    }
    let rate = match &raw.rate {
        Some(text) => {
            let (count, window) = parse_rate(&text.value)
                .map_err(|e| ctx.error_at(text, e))
                .ok()?;
            Some(RequestRate {
                count,
                window,
                burst: raw.burst,
            })
        }
        None => None,
    };
    let tokens = match &raw.tokens {
        Some(text) => {
            let (tokens, window) = parse_token_budget(&text.value)
                .map_err(|e| ctx.error_at(text, e))
                .ok()?;
            Some(TokenBudget { tokens, window })
        }
        None => None,
    };
    Some(Limits {
        rate,
        tokens,
        per: match raw.per {
            None | Some(RawPer::Agent) => LimitScope::Agent,
            Some(RawPer::Rule) => LimitScope::Rule,
        },
    })
}

/// `approval:` — only meaningful on `decision: approve`; timeout and webhook URL checked.
pub(crate) fn approval(
    ctx: &mut Ctx<'_>,
    id: &SStr,
    verdict: Verdict,
    raw: &RawApproval,
) -> Option<Approval> {
    if verdict != Verdict::Approve {
        ctx.error_at(
            id,
            format!(
                "rule `{}` has `approval:` but its decision is not approve",
                id.value
            ),
        );
    }
    let timeout = raw.timeout.as_ref().and_then(|t| {
        parse_duration(&t.value)
            .map_err(|e| ctx.error_at(t, e))
            .ok()
    });
    let webhook = raw
        .webhook
        .as_ref()
        .and_then(|w| match w.value.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https"))
                    && uri.authority().is_some() =>
            {
                Some(uri)
            }
            _ => {
                ctx.error_at(
                    w,
                    format!(
                        "invalid webhook URL `{}` (use http:// or https://)",
                        w.value
                    ),
                );
                None
            }
        });
    Some(Approval { timeout, webhook })
}

/// `response:` — pointers parse, pattern sets exist.
pub(super) fn response(ctx: &mut Ctx<'_>, names: &Names, raw: &RawResponse) -> ResponseRedaction {
    let redact_json = raw
        .redact_json
        .iter()
        .filter_map(|p| {
            JsonPath::parse(&p.value)
                .map_err(|e| ctx.error_at(p, e.to_string()))
                .ok()
        })
        .collect();
    let mut redact_patterns = Vec::new();
    for set in &raw.redact_patterns {
        if names.patterns.contains_key(&set.value) {
            redact_patterns.push(set.value.clone());
        } else {
            ctx.error_at(set, format!("unknown pattern set `{}`", set.value));
        }
    }
    ResponseRedaction {
        redact_json,
        redact_patterns,
    }
}

/// `allow_private:` — CIDR syntax.
pub(super) fn allow_private(ctx: &mut Ctx<'_>, raw: &[SStr]) -> Vec<ipnet::IpNet> {
    raw.iter()
        .filter_map(|c| parse_cidr(&c.value).map_err(|e| ctx.error_at(c, e)).ok())
        .collect()
}
