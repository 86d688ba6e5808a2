//! Injection: replaces each placeholder of the rule's secrets wherever the agent put it —
//! header values (inside `Authorization: Basic` too), the query string, the body when the
//! rule says so — and sets headers from templates such as `Bearer {{github}}`. A secret is
//! injected only into requests inside its `methods:`/`paths:`; outside them its placeholder
//! is left for the guard to refuse, and a template naming it refuses the request.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};

use crate::policy::extras::{HeaderTemplate, TemplatePart};
use http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::guard::Exfiltration;
use super::source::SourceError;
use super::store::{CredentialStore, Placeholder, SecretName};
use crate::secret::SecretValue;

/// Characters percent-encoded when a secret goes into a query string.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why injection failed; the request is denied. Never contains a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InjectError {
    #[error("secret {name} is unavailable: {source}")]
    Source {
        name: SecretName,
        source: SourceError,
    },
    #[error("secret {0} is not declared")]
    Unknown(SecretName),
    #[error("a secret cannot be placed in header {header}: not a valid header value")]
    Header { header: String },
    #[error("the request target is invalid after injection")]
    Uri,
    /// A `set_headers` template names a secret the request is outside the scope of.
    #[error(transparent)]
    OutOfScope(Exfiltration),
}

/// What was injected: names for the audit entry, values so the response can be scrubbed
/// of them (a `SecretValue` prints as `[redacted]`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Injected {
    pub names: Vec<SecretName>,
    pub values: Vec<SecretValue>,
}

/// Resolved values of the secrets a rule injects.
struct Values(Vec<(SecretName, Placeholder, SecretValue)>);

/// Injects `names` (and renders `set_headers`) into the request, whose normalised path is
/// `segments`; secrets whose scope the request is outside are not injected.
pub async fn inject(
    store: &CredentialStore,
    names: &[SecretName],
    set_headers: &[HeaderTemplate],
    parts: &mut Parts,
    body: Option<&mut Bytes>,
    segments: &[String],
) -> Result<Injected, InjectError> {
    let mut wanted: Vec<SecretName> = names.to_vec();
    for template in set_headers {
        for part in &template.parts {
            let TemplatePart::Secret(name) = part else {
                continue;
            };
            let cred = store
                .get(name)
                .ok_or_else(|| InjectError::Unknown(name.clone()))?;
            if let Err(why) = cred.scope.check(&parts.method, segments) {
                return Err(InjectError::OutOfScope(Exfiltration::OutOfScope {
                    secret: name.clone(),
                    why,
                }));
            }
            if !wanted.contains(name) {
                wanted.push(name.clone());
            }
        }
    }
    let mut values = Values(Vec::with_capacity(wanted.len()));
    for name in &wanted {
        let cred = store
            .get(name)
            .ok_or_else(|| InjectError::Unknown(name.clone()))?;
        if cred.scope.check(&parts.method, segments).is_err() {
            // Left in place: the exfiltration guard refuses it, naming what did not match.
            continue;
        }
        let value = cred
            .source
            .resolve()
            .await
            .map_err(|source| InjectError::Source {
                name: name.clone(),
                source,
            })?;
        values
            .0
            .push((name.clone(), cred.placeholder.clone(), value));
    }
    let mut injected = Injected::default();
    let mut used = |name: &SecretName| {
        if !injected.names.contains(name) {
            injected.names.push(name.clone());
            if let Some((_, _, v)) = values.0.iter().find(|(n, _, _)| n == name) {
                injected.values.push(v.clone());
            }
        }
    };

    // Only the headers that may hold a placeholder are rewritten (most requests carry one,
    // or none, among a dozen headers).
    let mut dirty: Vec<HeaderName> = Vec::new();
    for (name, value) in parts.headers.iter() {
        if may_hold_placeholder(name, value.as_bytes(), &values) && !dirty.contains(name) {
            dirty.push(name.clone());
        }
    }
    for header in dirty {
        let current: Vec<HeaderValue> = parts.headers.get_all(&header).iter().cloned().collect();
        let mut replaced = Vec::with_capacity(current.len());
        let mut changed = false;
        for value in current {
            match replace_in_header(&header, value.as_bytes(), &values, &mut used)? {
                Some(new) => {
                    replaced.push(new);
                    changed = true;
                }
                None => replaced.push(value),
            }
        }
        if changed {
            parts.headers.remove(&header);
            for v in replaced {
                parts.headers.append(header.clone(), v);
            }
        }
    }

    if let Some(query) = parts.uri.query() {
        let mut q = query.to_owned();
        for (name, placeholder, value) in &values.0 {
            let encoded_value =
                utf8_percent_encode(&String::from_utf8_lossy(value.expose()), QUERY_VALUE)
                    .to_string();
            let raw = placeholder.as_str();
            let encoded = utf8_percent_encode(raw, QUERY_VALUE).to_string();
            if q.contains(raw) || q.contains(&encoded) {
                q = q
                    .replace(raw, &encoded_value)
                    .replace(&encoded, &encoded_value);
                used(name);
            }
        }
        if q != query {
            let path = parts.uri.path();
            let mut uri = http::uri::Builder::new();
            if let Some(s) = parts.uri.scheme() {
                uri = uri.scheme(s.clone());
            }
            if let Some(a) = parts.uri.authority() {
                uri = uri.authority(a.clone());
            }
            parts.uri = uri
                .path_and_query(format!("{path}?{q}"))
                .build()
                .map_err(|_| InjectError::Uri)?;
        }
    }

    if let Some(body) = body {
        let json = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let mut bytes = body.to_vec();
        for (name, placeholder, value) in &values.0 {
            let replacement: Vec<u8> = if json {
                let text = String::from_utf8_lossy(value.expose());
                serde_json::to_string(&text)
                    .map(|s| s.trim_matches('"').as_bytes().to_vec())
                    .unwrap_or_default()
            } else {
                value.expose().to_vec()
            };
            if let Some(next) = replace_all(&bytes, placeholder.as_str().as_bytes(), &replacement) {
                bytes = next;
                used(name);
            }
        }
        if bytes.len() != body.len() || bytes != body.as_ref() {
            parts
                .headers
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            *body = Bytes::from(bytes);
        }
    }

    for template in set_headers {
        let mut rendered = Vec::new();
        for part in &template.parts {
            match part {
                TemplatePart::Text(text) => rendered.extend_from_slice(text.as_bytes()),
                TemplatePart::Secret(name) => {
                    let value = values
                        .0
                        .iter()
                        .find(|(n, _, _)| n == name)
                        .ok_or_else(|| InjectError::Unknown(name.clone()))?;
                    rendered.extend_from_slice(value.2.expose());
                    used(name);
                }
            }
        }
        let mut value = HeaderValue::from_bytes(&rendered).map_err(|_| InjectError::Header {
            header: template.name.to_string(),
        })?;
        value.set_sensitive(true);
        parts.headers.insert(template.name.clone(), value);
    }
    Ok(injected)
}

/// The header value with placeholders replaced, or `None` when it holds none.
fn replace_in_header(
    header: &HeaderName,
    value: &[u8],
    values: &Values,
    used: &mut impl FnMut(&SecretName),
) -> Result<Option<HeaderValue>, InjectError> {
    let mut out: Option<Vec<u8>> = None;
    for (name, placeholder, secret) in &values.0 {
        let current = out.as_deref().unwrap_or(value);
        if let Some(next) = replace_all(current, placeholder.as_str().as_bytes(), secret.expose()) {
            out = Some(next);
            used(name);
        }
    }
    if header == AUTHORIZATION
        && let Some(encoded) = out.as_deref().unwrap_or(value).strip_prefix(b"Basic ")
        && let Ok(decoded) = STANDARD.decode(encoded.trim_ascii())
    {
        let mut inner = decoded;
        let mut inner_changed = false;
        for (name, placeholder, secret) in &values.0 {
            if let Some(next) =
                replace_all(&inner, placeholder.as_str().as_bytes(), secret.expose())
            {
                inner = next;
                inner_changed = true;
                used(name);
            }
        }
        if inner_changed {
            out = Some(format!("Basic {}", STANDARD.encode(&inner)).into_bytes());
        }
    }
    let Some(out) = out else {
        return Ok(None);
    };
    let mut value = HeaderValue::from_bytes(&out).map_err(|_| InjectError::Header {
        header: header.to_string(),
    })?;
    value.set_sensitive(true);
    Ok(Some(value))
}

/// `haystack` with every `needle` replaced, or `None` when there is none.
pub(super) fn replace_all(haystack: &[u8], needle: &[u8], replacement: &[u8]) -> Option<Vec<u8>> {
    if needle.is_empty() {
        return None;
    }
    let mut found = memchr::memmem::find_iter(haystack, needle).peekable();
    found.peek()?;
    let mut out = Vec::with_capacity(haystack.len() + replacement.len());
    let mut last = 0;
    // Non-overlapping, leftmost first.
    for at in found {
        out.extend_from_slice(&haystack[last..at]);
        out.extend_from_slice(replacement);
        last = at + needle.len();
    }
    out.extend_from_slice(&haystack[last..]);
    Some(out)
}

/// Whether `value` of header `name` may hold one of the placeholders: it holds one as is,
/// or it is `Authorization: Basic`, whose decoded form is searched too.
fn may_hold_placeholder(name: &HeaderName, value: &[u8], values: &Values) -> bool {
    (name == AUTHORIZATION && value.starts_with(b"Basic "))
        || values
            .0
            .iter()
            .any(|(_, p, _)| memchr::memmem::find(value, p.as_str().as_bytes()).is_some())
}
