//! Compiles the secret-manager sources of `from:`: `aws_secrets_manager:` and `vault:`.
//! Their keys are read from a kept value, so an unknown or missing key is reported by name
//! at the `from:` it belongs to.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::Ctx;
use crate::policy::decls::{AwsSmDecl, CredentialSource, RoleId, VaultAuth, VaultDecl};
use crate::policy::raw::{RawAwsSm, RawSource, RawVault};
use crate::policy::units::parse_duration;

/// The `from:` of each `kind: aws` secret, by name.
pub(super) type AwsKeySources<'r> = HashMap<String, &'r RawSource>;

/// How long a secret manager's value is reused unless `ttl:` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// `aws_secrets_manager: {…}` written at `at`.
pub(super) fn aws_sm<T>(
    ctx: &mut Ctx<'_>,
    value: &Value,
    at: &Spanned<T>,
    aws_keys: &AwsKeySources<'_>,
) -> Option<CredentialSource> {
    let raw: RawAwsSm = read(ctx, value, at, "aws_secrets_manager")?;
    let before = ctx.errors_len();
    if raw.secret_id.is_empty() {
        ctx.error_at(at, "aws_secrets_manager: empty secret_id");
    }
    if raw.region.is_empty()
        || !raw
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        let message = format!(
            "aws_secrets_manager: invalid region `{}` (e.g. eu-west-1)",
            raw.region
        );
        ctx.error_at(at, message);
    }
    let endpoint = raw
        .endpoint
        .as_deref()
        .and_then(|e| url(ctx, at, "aws_secrets_manager: endpoint", e));
    let ttl = ttl(ctx, at, raw.ttl.as_deref()).unwrap_or(DEFAULT_TTL);
    let credentials = match &raw.credentials {
        // The name of a `kind: aws` secret: its source (which names no further secret).
        RawSource::Text(name) if super::decls::is_name(name) => match aws_keys.get(name) {
            Some(source) => nested(ctx, source, at, &AwsKeySources::new()),
            None => {
                let message = format!(
                    "aws_secrets_manager: credentials `{name}` is not a secret of kind aws (name one, or give a source: env:NAME, file:PATH, an argv list)"
                );
                ctx.error_at(at, message);
                None
            }
        },
        other => nested(ctx, other, at, aws_keys),
    };
    if raw.field.as_deref() == Some("") {
        ctx.error_at(at, "aws_secrets_manager: empty field");
    }
    if ctx.errors_len() != before {
        return None;
    }
    Some(CredentialSource::AwsSecretsManager(Box::new(AwsSmDecl {
        secret_id: raw.secret_id,
        region: raw.region,
        field: raw.field,
        credentials: credentials?,
        endpoint,
        ttl,
    })))
}

/// `vault: {…}` written at `at`.
pub(super) fn vault<T>(
    ctx: &mut Ctx<'_>,
    value: &Value,
    at: &Spanned<T>,
    aws_keys: &AwsKeySources<'_>,
) -> Option<CredentialSource> {
    let raw: RawVault = read(ctx, value, at, "vault")?;
    let before = ctx.errors_len();
    let address = url(ctx, at, "vault: address", &raw.address);
    let path = raw.path.trim_matches('/');
    let kv2 = path
        .split_once("/data/")
        .is_some_and(|(mount, rest)| !mount.is_empty() && !rest.is_empty());
    if !kv2 || path.contains("..") || path.contains('?') || path.contains('#') {
        let message = format!(
            "vault: path `{}` is not a KV v2 path (MOUNT/data/PATH, e.g. secret/data/github)",
            raw.path
        );
        ctx.error_at(at, message);
    }
    if raw.field.is_empty() {
        ctx.error_at(at, "vault: empty field");
    }
    let ttl = ttl(ctx, at, raw.ttl.as_deref());
    let auth = match (&raw.auth.token, &raw.auth.approle) {
        (Some(token), None) => nested(ctx, token, at, aws_keys).map(VaultAuth::Token),
        (None, Some(approle)) => {
            let role_id = match &approle.role_id {
                RawSource::Text(text) if !text.contains(':') && !text.is_empty() => {
                    Some(RoleId::Text(text.clone()))
                }
                other => nested(ctx, other, at, aws_keys).map(RoleId::Source),
            };
            let secret_id = nested(ctx, &approle.secret_id, at, aws_keys);
            role_id
                .zip(secret_id)
                .map(|(role_id, secret_id)| VaultAuth::AppRole { role_id, secret_id })
        }
        _ => {
            ctx.error_at(
                at,
                "vault: auth needs exactly one of `token:` or `approle:`",
            );
            None
        }
    };
    if ctx.errors_len() != before {
        return None;
    }
    Some(CredentialSource::Vault(Box::new(VaultDecl {
        address: address?,
        path: path.to_owned(),
        field: raw.field,
        auth: auth?,
        namespace: raw.namespace.filter(|n| !n.is_empty()),
        ttl,
    })))
}

/// Reads the kept value into its raw struct, reporting serde's message (which names an
/// unknown or missing key).
fn read<R: serde::de::DeserializeOwned, T>(
    ctx: &mut Ctx<'_>,
    value: &Value,
    at: &Spanned<T>,
    what: &str,
) -> Option<R> {
    serde_json::from_value(value.clone())
        .map_err(|e| ctx.error_at(at, format!("{what}: {e}")))
        .ok()
}

/// A source given inside a secret manager's source (its credentials).
fn nested<T>(
    ctx: &mut Ctx<'_>,
    raw: &RawSource,
    at: &Spanned<T>,
    aws_keys: &AwsKeySources<'_>,
) -> Option<CredentialSource> {
    super::decls::source_at(ctx, raw, at, aws_keys)
}

/// An `https:` URL, or `http:` to a loopback address (a local test server).
fn url<T>(ctx: &mut Ctx<'_>, at: &Spanned<T>, what: &str, text: &str) -> Option<http::Uri> {
    let ok = |uri: &http::Uri| {
        let loopback = matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"));
        uri.host().is_some()
            && (uri.scheme_str() == Some("https") || (uri.scheme_str() == Some("http") && loopback))
            && uri.query().is_none()
    };
    match text.parse::<http::Uri>() {
        Ok(uri) if ok(&uri) => Some(uri),
        _ => {
            let message = format!(
                "{what} `{text}` is not an https:// URL (credentials travel over TLS only; http:// is taken for loopback addresses only)"
            );
            ctx.error_at(at, message);
            None
        }
    }
}

/// `ttl:`, a duration above zero.
fn ttl<T>(ctx: &mut Ctx<'_>, at: &Spanned<T>, text: Option<&str>) -> Option<Duration> {
    let text = text?;
    match parse_duration(text) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            ctx.error_at(at, format!("ttl `{text}` must be above zero"));
            None
        }
        Err(e) => {
            ctx.error_at(at, e);
            None
        }
    }
}

#[cfg(test)]
mod tests;
