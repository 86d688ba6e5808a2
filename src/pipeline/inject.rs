//! Credentials: the allowing rule's secrets injected in place of their placeholders (and its
//! `set_headers` rendered, its `sign:` header computed over the whole body as sent), over TLS
//! only and within each secret's `methods:`/`paths:`; then
//! the exfiltration guard refuses any request still carrying a placeholder keyward did not
//! replace.

use http::header;
use http::request::Parts;

use crate::control::rules_in_force::InForce;
use crate::credentials::{self, ExfilGuard, InjectError, Injected};
use crate::pipeline::exchange::{Exchange, Scheme};
use crate::pipeline::read_body::{AgentBody, SCAN_CAP};
use crate::pipeline::refusal::{Denial, Refusal};
use crate::policy::{BodyError, Decision, Rule};

mod aws;

/// Where the request goes: the connection's host and the normalised path's segments
/// (matched against secrets' `hosts:` and `paths:`).
#[derive(Clone, Copy)]
pub struct Destination<'a> {
    pub host: &'a str,
    pub segments: &'a [String],
}

/// Injects, then guards; what was injected is named in the exchange's record.
pub async fn inject(
    in_force: &InForce,
    exchange: &mut Exchange,
    decision: &Decision,
    rule: Option<&Rule>,
    parts: &mut Parts,
    target: Destination<'_>,
    body: &mut AgentBody,
) -> Result<Injected, Refusal> {
    let host = target.host;
    let scheme = exchange.conn.scheme;
    let rule_id = decision.rule.clone();
    let set_headers = rule.map(|r| r.set_headers()).unwrap_or(&[]);
    let into_body = rule.is_some_and(|r| r.inject_body());
    let partial = body.is_partial();
    let signing = rule.and_then(Rule::sign);
    if signing.is_some() && scheme == Scheme::Http {
        return Err(Refusal::Denied {
            rule: rule_id,
            reason: Denial::CredentialsOverPlainHttp,
        });
    }
    let injected = if decision.inject.is_empty() && set_headers.is_empty() {
        Injected::default()
    } else if scheme == Scheme::Http {
        return Err(Refusal::Denied {
            rule: rule_id,
            reason: Denial::CredentialsOverPlainHttp,
        });
    } else {
        let (aws, tokens): (Vec<_>, Vec<_>) = decision
            .inject
            .iter()
            .cloned()
            .partition(|n| in_force.credentials.get(n).is_some_and(|c| c.aws.is_some()));
        let signed = aws::resign(&in_force.credentials, exchange, &aws, parts, target, body)
            .await
            .map_err(|e| e.refusal(rule_id.clone()))?;
        let body_target = body.sent_mut().filter(|_| into_body);
        let mut injected = credentials::inject(
            &in_force.credentials,
            &tokens,
            set_headers,
            parts,
            body_target,
            target.segments,
        )
        .await
        .map_err(|e| match e {
            InjectError::OutOfScope(exfil) => Refusal::Denied {
                rule: rule_id.clone(),
                reason: exfil.into(),
            },
            other => other.into(),
        })?;
        injected.names.extend(signed.names);
        injected.values.extend(signed.values);
        injected
    };
    let mut injected = injected;
    if let Some(signing) = signing {
        // The signature covers the body as sent: it must be known whole.
        let Some(whole) = body.whole() else {
            return Err(Refusal::TooLarge(BodyError::TooLarge {
                max_size: SCAN_CAP,
            }));
        };
        let signed = credentials::sign::Signed {
            host,
            body: whole,
            segments: target.segments,
        };
        let key = credentials::sign::sign(&in_force.credentials, signing, parts, signed)
            .await
            .map_err(|e| match e {
                InjectError::OutOfScope(exfil) => Refusal::Denied {
                    rule: rule_id.clone(),
                    reason: exfil.into(),
                },
                other => other.into(),
            })?;
        if !injected.names.contains(&signing.secret) {
            injected.names.push(signing.secret.clone());
            injected.values.push(key);
        }
    }
    if partial && into_body {
        // Only the read-ahead part was rewritten: the total length is no longer known.
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    exchange.credentials = injected.names.clone();
    let guard = ExfilGuard {
        store: &in_force.credentials,
        segments: target.segments,
    };
    let sent = body.sent().map(|b| &b[..]);
    if let Err(exfil) = guard.check(parts, sent, host, scheme == Scheme::Https) {
        exchange.exfiltration = true;
        tracing::warn!(request_id = exchange.id.as_str(), %exfil, "exfiltration attempt refused");
        return Err(Refusal::Denied {
            rule: rule_id,
            reason: exfil.into(),
        });
    }
    Ok(injected)
}
