//! The exfiltration guard: after injection, any placeholder still anywhere in the request —
//! headers (Basic auth decoded), the URI (decoded too), the body — means a secret would leave
//! for a destination or in a way no rule allowed (a host it is not bound to, a method or path
//! outside its `methods:`/`paths:`); the request is refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::request::Parts;

use super::scope::OutOfScope;
use super::store::{CredentialStore, SecretName};

/// A placeholder found where no secret may go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Exfiltration {
    #[error("credential not allowed for this destination ({secret} is not bound to {host})")]
    Unbound { secret: SecretName, host: String },
    #[error("credential not allowed for this destination ({secret} is sent only over TLS)")]
    PlainHttp { secret: SecretName },
    #[error(
        "credential not allowed for this destination ({secret} is not injected by the allowing rule)"
    )]
    NotInjected { secret: SecretName },
    #[error("credential not allowed for this request ({secret}: {why})")]
    OutOfScope { secret: SecretName, why: OutOfScope },
}

/// Checks requests for leftover placeholders.
pub struct ExfilGuard<'a> {
    pub store: &'a CredentialStore,
    /// The request's normalised, once-decoded path segments, checked against secrets'
    /// `paths:` to name why a placeholder was left.
    pub segments: &'a [String],
}

impl ExfilGuard<'_> {
    /// Refuses when any placeholder remains in `parts` or `body`.
    pub fn check(
        &self,
        parts: &Parts,
        body: Option<&[u8]>,
        host: &str,
        tls: bool,
    ) -> Result<(), Exfiltration> {
        if self.store.is_empty() {
            return Ok(());
        }
        let mut found = Vec::new();
        let mut scan = |bytes: &[u8]| {
            for c in self.store.placeholders_in(bytes) {
                if !found.iter().any(|f: &&super::Credential| f.name == c.name) {
                    found.push(c);
                }
            }
        };
        let uri = parts.uri.to_string();
        scan(uri.as_bytes());
        if uri.contains('%') {
            // Without an escape the decoded form is the same bytes, already scanned.
            scan(&percent_encoding::percent_decode_str(&uri).collect::<Vec<u8>>());
        }
        for value in parts.headers.values() {
            scan(value.as_bytes());
            if let Some(encoded) = value.as_bytes().strip_prefix(b"Basic ")
                && let Ok(decoded) = STANDARD.decode(encoded.trim_ascii())
            {
                scan(&decoded);
            }
        }
        if let Some(body) = body {
            scan(body);
        }
        let scope = found
            .first()
            .and_then(|c| c.scope.check(&parts.method, self.segments).err());
        verdict(found.first().copied(), host, tls, scope)
    }

    /// Refuses when any placeholder is in `message` (a WebSocket message, its bytes as sent):
    /// nothing is injected into messages, so a placeholder there is never replaced.
    pub fn check_message(&self, message: &[u8], host: &str, tls: bool) -> Result<(), Exfiltration> {
        verdict(
            self.store.placeholders_in(message).first().copied(),
            host,
            tls,
            None,
        )
    }
}

/// The refusal for the first placeholder found, if any (`scope`: why the request is outside
/// that secret's `methods:`/`paths:`, when it is).
fn verdict(
    found: Option<&super::Credential>,
    host: &str,
    tls: bool,
    scope: Option<OutOfScope>,
) -> Result<(), Exfiltration> {
    match found {
        None => Ok(()),
        Some(c) if !tls => Err(Exfiltration::PlainHttp {
            secret: c.name.clone(),
        }),
        Some(c) if !c.bound_to(host) => Err(Exfiltration::Unbound {
            secret: c.name.clone(),
            host: host.to_owned(),
        }),
        Some(c) => Err(match scope {
            Some(why) => Exfiltration::OutOfScope {
                secret: c.name.clone(),
                why,
            },
            None => Exfiltration::NotInjected {
                secret: c.name.clone(),
            },
        }),
    }
}
