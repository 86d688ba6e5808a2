//! Compiles the declarations every rule may refer to: `patterns`, `secrets`, `agents`.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_saphyr::Spanned;

use super::managers::AwsKeySources;
use super::{Compiled, Ctx, Names, REGEX_SIZE_LIMIT, regex_error};
use crate::policy::decls::{AgentDecl, CredentialSource, OAuth2Decl, SecretDecl, SecretKind};
use crate::policy::error::{Errors, Pos};
use crate::policy::ids::{AgentId, SecretName};
use crate::policy::raw::{RawFile, RawOAuth2, RawSecret, RawSource, SStr};
use crate::policy::rule::PatternSet;
use crate::policy::url_pattern::{HostPattern, PathPattern};

/// Compiles the declarations of all files, recording duplicates across files.
pub(super) fn compile_decls(
    files: &[(&Path, RawFile)],
    out: &mut Compiled,
    errors: &mut Errors,
) -> Names {
    let mut names = Names {
        patterns: HashMap::new(),
        secrets: HashMap::new(),
        agents: HashSet::new(),
        aws_secrets: HashSet::new(),
    };
    let mut first_seen: HashMap<(&str, String), Pos> = HashMap::new();
    // The sources of `kind: aws` secrets, which a secret manager's `credentials:` may name.
    let aws_keys: AwsKeySources<'_> = files
        .iter()
        .flat_map(|(_, raw)| &raw.secrets.0)
        .filter(|(_, s)| s.kind.as_ref().is_some_and(|k| k.value == "aws"))
        .filter_map(|(name, s)| Some((name.value.clone(), &s.from.as_ref()?.value)))
        .collect();
    for (file, raw) in files {
        let mut ctx = Ctx { file, errors };
        for (name, regexes) in &raw.patterns.0 {
            if !declare(&mut ctx, &mut first_seen, "pattern set", name) {
                continue;
            }
            let index = pattern_set(&mut ctx, name, regexes).map(|set| {
                out.patterns.push(set);
                out.patterns.len() - 1
            });
            names.patterns.insert(name.value.clone(), index);
        }
        for (name, secret) in &raw.secrets.0 {
            if !declare(&mut ctx, &mut first_seen, "secret", name) {
                continue;
            }
            let before = ctx.errors_len();
            let source = secret_source(&mut ctx, name, secret, &aws_keys);
            let kind = secret_kind(&mut ctx, name, secret);
            if secret.hosts.is_empty() {
                ctx.error_at(
                    name,
                    format!("secret `{}` needs `hosts:` it may be sent to", name.value),
                );
            }
            let hosts = secret.hosts.iter().filter_map(|h| {
                HostPattern::parse(&h.value)
                    .map_err(|e| ctx.error_at(h, e))
                    .ok()
            });
            let hosts: Vec<_> = hosts.collect();
            let methods = secret.methods.as_ref().map(|ms| {
                ms.iter()
                    .filter_map(|m| parse_method(&mut ctx, m))
                    .collect::<Vec<_>>()
            });
            let paths = secret.paths.as_ref().map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        PathPattern::parse(&p.value)
                            .map_err(|e| ctx.error_at(p, e))
                            .ok()
                    })
                    .collect::<Vec<_>>()
            });
            if kind == SecretKind::Aws {
                names.aws_secrets.insert(name.value.clone());
            }
            if let (Some(source), true) = (source, ctx.errors_len() == before) {
                names
                    .secrets
                    .insert(name.value.clone(), Some(out.secrets.len()));
                out.secrets.push(SecretDecl {
                    name: SecretName::new(name.value.clone()),
                    kind,
                    source,
                    placeholder: secret.placeholder.clone(),
                    env: secret.env.clone(),
                    hosts,
                    methods,
                    paths,
                    pos: ctx.pos(name),
                });
            } else {
                names.secrets.insert(name.value.clone(), None);
            }
        }
        for (name, agent) in &raw.agents.0 {
            if !declare(&mut ctx, &mut first_seen, "agent", name) {
                continue;
            }
            names.agents.insert(name.value.clone());
            if let Some(token) = credential_source(&mut ctx, &agent.token) {
                out.agents.push(AgentDecl {
                    name: AgentId::new(name.value.clone()),
                    token,
                    pos: ctx.pos(name),
                });
            }
        }
    }
    names
}

impl Ctx<'_> {
    /// How many errors are recorded so far (to tell whether an item compiled cleanly).
    pub(crate) fn errors_len(&self) -> usize {
        self.errors.len()
    }
}

/// Checks a declared name is well-formed and new; false when it must be skipped.
fn declare<'f>(
    ctx: &mut Ctx<'_>,
    first_seen: &mut HashMap<(&'f str, String), Pos>,
    kind: &'f str,
    name: &SStr,
) -> bool {
    if !is_name(&name.value) {
        ctx.error_at(
            name,
            format!(
                "invalid {kind} name `{}` (use letters, digits, `_`, `-`)",
                name.value
            ),
        );
        return false;
    }
    let key = (kind, name.value.clone());
    if let Some(first) = first_seen.get(&key) {
        let message = format!(
            "duplicate {kind} `{}` (first defined at {first})",
            name.value
        );
        ctx.error_at(name, message);
        return false;
    }
    first_seen.insert(key, ctx.pos(name));
    true
}

/// Names of pattern sets, secrets and agents: a letter, then letters, digits, `_` or `-`.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Compiles one `patterns:` entry.
fn pattern_set(ctx: &mut Ctx<'_>, name: &SStr, regexes: &[SStr]) -> Option<PatternSet> {
    if regexes.is_empty() {
        ctx.error_at(name, format!("pattern set `{}` is empty", name.value));
        return None;
    }
    let before = ctx.errors_len();
    let mut compiled = Vec::new();
    for re in regexes {
        match regex::bytes::RegexBuilder::new(&re.value)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(r) => compiled.push(r),
            Err(e) => ctx.error_at(
                re,
                format!("invalid regex `{}`: {}", re.value, regex_error(&e)),
            ),
        }
    }
    (ctx.errors_len() == before).then(|| PatternSet {
        name: name.value.clone(),
        sources: regexes.iter().map(|r| r.value.clone()).collect(),
        regexes: compiled,
    })
}

/// A secret's `from:` or its `oauth2:`, exactly one of them.
fn secret_source(
    ctx: &mut Ctx<'_>,
    name: &SStr,
    secret: &RawSecret,
    aws_keys: &AwsKeySources<'_>,
) -> Option<CredentialSource> {
    match (&secret.from, &secret.oauth2) {
        (Some(from), None) => source_at(ctx, &from.value, from, aws_keys),
        (None, Some(oauth2)) => oauth2_source(ctx, oauth2),
        (Some(_), Some(_)) => {
            let message = format!(
                "secret `{}` has both `from:` and `oauth2:` (an OAuth 2.0 secret's value is the access token keyward obtains)",
                name.value
            );
            ctx.error_at(name, message);
            None
        }
        (None, None) => {
            let message = format!("secret `{}` needs `from:` (or `oauth2:`)", name.value);
            ctx.error_at(name, message);
            None
        }
    }
}

/// `oauth2:`: an `https:` token endpoint, the client, and the grant's sources.
fn oauth2_source(ctx: &mut Ctx<'_>, raw: &Spanned<RawOAuth2>) -> Option<CredentialSource> {
    let o = &raw.value;
    let before = ctx.errors_len();
    let token_url = match o.token_url.value.parse::<http::Uri>() {
        Ok(uri) if uri.scheme_str() == Some("https") && uri.host().is_some() => Some(uri),
        _ => {
            let message = format!(
                "invalid token_url `{}` (an https:// URL: the client's credentials travel over TLS only)",
                o.token_url.value
            );
            ctx.error_at(&o.token_url, message);
            None
        }
    };
    if o.client_id.value.is_empty() {
        ctx.error_at(&o.client_id, "empty client_id");
    }
    let client_secret = o.client_secret.as_ref().map(|s| credential_source(ctx, s));
    let refresh_token = o.refresh_token.as_ref().map(|s| credential_source(ctx, s));
    if client_secret.is_none() && refresh_token.is_none() {
        ctx.error_at(
            &o.client_id,
            "the client-credentials grant needs a `client_secret:` (or give a `refresh_token:`)",
        );
    }
    let secret_in_body = match o.client_auth.as_ref().map(|a| a.value.as_str()) {
        None | Some("basic") => false,
        Some("body") => true,
        Some(other) => {
            if let Some(at) = &o.client_auth {
                ctx.error_at(
                    at,
                    format!("unknown client_auth `{other}` (use basic or body)"),
                );
            }
            false
        }
    };
    if ctx.errors_len() != before {
        return None;
    }
    Some(CredentialSource::OAuth2(Box::new(OAuth2Decl {
        token_url: token_url?,
        client_id: o.client_id.value.clone(),
        client_secret: client_secret.flatten(),
        refresh_token: refresh_token.flatten(),
        scope: o.scope.as_ref().map(|s| s.value.clone()),
        audience: o.audience.as_ref().map(|s| s.value.clone()),
        secret_in_body,
    })))
}

/// `kind:` — `token` (the default) or `aws`; an `aws` secret's variables are fixed
/// (`AWS_ACCESS_KEY_ID`, …) and its `placeholder:` is the placeholder access key id.
fn secret_kind(ctx: &mut Ctx<'_>, name: &SStr, secret: &RawSecret) -> SecretKind {
    let kind = match secret.kind.as_ref().map(|k| (k, k.value.as_str())) {
        None | Some((_, "token")) => return SecretKind::Token,
        Some((_, "aws")) => SecretKind::Aws,
        Some((k, other)) => {
            ctx.error_at(
                k,
                format!("unknown secret kind `{other}` (use token or aws)"),
            );
            return SecretKind::Token;
        }
    };
    if secret.oauth2.is_some() {
        let message = format!(
            "secret `{}` of kind aws is a key pair read `from:` a source, not an OAuth 2.0 token",
            name.value
        );
        ctx.error_at(name, message);
    }
    if secret.env.is_some() {
        ctx.error_at(
            name,
            format!(
                "secret `{}` of kind aws takes no `env:` (`keyward run` sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN)",
                name.value
            ),
        );
    }
    if let Some(p) = &secret.placeholder
        && (p.len() < 16 || !p.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        ctx.error_at(
            name,
            format!(
                "secret `{}` of kind aws: `placeholder:` is its placeholder access key id, 16 or more letters and digits",
                name.value
            ),
        );
    }
    kind
}

/// `env:NAME`, `file:PATH`, an argv list, `{exec: [argv]}` or a secret manager.
fn credential_source(ctx: &mut Ctx<'_>, raw: &Spanned<RawSource>) -> Option<CredentialSource> {
    source_at(ctx, &raw.value, raw, &AwsKeySources::new())
}

/// The source `raw`, its errors reported at `at`; a secret manager's `credentials:` may name
/// a secret of `aws_keys`.
pub(super) fn source_at<T>(
    ctx: &mut Ctx<'_>,
    raw: &RawSource,
    at: &Spanned<T>,
    aws_keys: &AwsKeySources<'_>,
) -> Option<CredentialSource> {
    let result = match raw {
        RawSource::Text(text) => match text.split_once(':') {
            Some(("env", name)) if !name.is_empty() => Ok(CredentialSource::Env(name.to_owned())),
            Some(("file", path)) if !path.is_empty() => Ok(CredentialSource::File(path.to_owned())),
            _ => Err(format!(
                "invalid credential source `{text}` (use env:NAME, file:PATH, an argv list, aws_secrets_manager: or vault:)"
            )),
        },
        RawSource::Argv(argv) | RawSource::Exec { exec: argv } => match argv.first() {
            Some(program) if !program.is_empty() => Ok(CredentialSource::Exec(argv.clone())),
            _ => Err("exec credential source needs a program".to_owned()),
        },
        RawSource::AwsSecretsManager {
            aws_secrets_manager,
        } => return super::managers::aws_sm(ctx, aws_secrets_manager, at, aws_keys),
        RawSource::Vault { vault } => return super::managers::vault(ctx, vault, at, aws_keys),
    };
    result.map_err(|e| ctx.error_at(at, e)).ok()
}

/// An upper-case HTTP method token.
pub(super) fn parse_method(ctx: &mut Ctx<'_>, raw: &SStr) -> Option<http::Method> {
    parse_method_text(&raw.value)
        .map_err(|e| ctx.error_at(raw, e))
        .ok()
}

/// An upper-case HTTP method token (`GET`, `POST`, `PROPFIND`, …).
pub(crate) fn parse_method_text(text: &str) -> Result<http::Method, String> {
    if text.is_empty()
        || !text
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "invalid method `{text}` (methods are upper case, e.g. GET)"
        ));
    }
    http::Method::from_bytes(text.as_bytes()).map_err(|_| format!("invalid method `{text}`"))
}
