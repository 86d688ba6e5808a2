//! HashiCorp Vault's KV v2 as a secret's source (`from: {vault: …}`): one field of the
//! secret at `MOUNT/data/PATH`, read with a client token from a source or from an AppRole
//! login (kept until shortly before its lease ends, then obtained by logging in again). The
//! value is reused for `ttl:` or, without one, its lease (five minutes when Vault gives
//! none). Errors name Vault's status and its `errors` messages, never a token or the value.

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::time::Instant;

use super::api_client::ApiClient;
use super::source::{Resolving, SecretSource, SourceError};
use crate::policy::VaultDecl;
use crate::secret::SecretValue;

mod login;

pub use login::{AppRole, RoleIdText, VaultLogin};

/// How long a value is reused when neither `ttl:` nor its lease says.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Most characters of Vault's error messages kept in a reason.
const MAX_ERROR_CHARS: usize = 120;

/// `vault:` as a [`SecretSource`].
pub struct VaultSource {
    decl: VaultDecl,
    login: VaultLogin,
    api: std::sync::Arc<dyn ApiClient>,
    /// The value and until when it is reused (tokio's clock).
    cached: tokio::sync::Mutex<Option<(Instant, SecretValue)>>,
}

/// A KV v2 read's answer: `data.data` holds the secret's keys.
#[derive(Deserialize)]
struct ReadAnswer {
    data: ReadData,
    #[serde(default)]
    lease_duration: u64,
}

#[derive(Deserialize)]
struct ReadData {
    data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Vault's error answer (`{"errors": ["permission denied"]}`).
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    errors: Vec<String>,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl VaultSource {
    pub fn new(decl: VaultDecl, login: VaultLogin, api: std::sync::Arc<dyn ApiClient>) -> Self {
        Self {
            decl,
            login,
            api,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    fn error(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Manager {
            source_name: self.describe(),
            reason: reason.into(),
        }
    }

    /// Reads the field and how long it may be reused.
    async fn read(&self) -> Result<(SecretValue, Duration), SourceError> {
        let token = self.login.token().await?;
        let url = format!(
            "{}/v1/{}",
            self.decl.address.to_string().trim_end_matches('/'),
            self.decl.path
        );
        let mut req = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|_| self.error("invalid address or path"))?;
        let mut value = http::HeaderValue::from_bytes(token.expose())
            .map_err(|_| self.error("the client token is not a header value"))?;
        value.set_sensitive(true);
        req.headers_mut().insert("x-vault-token", value);
        if let Some(ns) = &self.decl.namespace {
            let ns = http::HeaderValue::from_str(ns)
                .map_err(|_| self.error("the namespace is not a header value"))?;
            req.headers_mut().insert("x-vault-namespace", ns);
        }
        let (status, body) = self.api.call(req).await.map_err(|e| self.error(e))?;
        if !(200..300).contains(&status) {
            if status == 403 {
                // A revoked or expired token: the next read logs in again.
                self.login.rejected(&token);
            }
            return Err(self.error(answered(status, &body)));
        }
        let answer: ReadAnswer = serde_json::from_slice(&body)
            .map_err(|_| self.error("the answer is not a KV v2 read (data.data)"))?;
        let data = answer
            .data
            .data
            .ok_or_else(|| self.error("the secret's latest version is deleted"))?;
        let field = data
            .get(&self.decl.field)
            .ok_or_else(|| self.error(format!("the secret has no field `{}`", self.decl.field)))?;
        let bytes = zeroize::Zeroizing::new(match field {
            serde_json::Value::String(s) => s.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        });
        if bytes.is_empty() {
            return Err(SourceError::Empty(self.describe()));
        }
        let lease = (answer.lease_duration > 0).then(|| Duration::from_secs(answer.lease_duration));
        let ttl = self.decl.ttl.or(lease).unwrap_or(DEFAULT_TTL);
        Ok((SecretValue::new(bytes.to_vec()), ttl))
    }
}

impl SecretSource for VaultSource {
    fn describe(&self) -> String {
        format!(
            "vault:{}/v1/{}#{}",
            self.decl.address.to_string().trim_end_matches('/'),
            self.decl.path,
            self.decl.field
        )
    }

    fn resolve(&self) -> Resolving<'_> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((until, value)) = cached.as_ref()
                && Instant::now() < *until
            {
                return Ok(value.clone());
            }
            let sent = Instant::now();
            let (value, ttl) = self.read().await?;
            *cached = Some((sent + ttl, value.clone()));
            Ok(value)
        })
    }
}

/// `answered STATUS: MESSAGES` of a refusal, Vault's messages shortened.
pub(crate) fn answered(status: u16, body: &[u8]) -> String {
    let errors = serde_json::from_slice::<ErrorAnswer>(body)
        .map(|e| e.errors.join("; "))
        .unwrap_or_default();
    if errors.is_empty() {
        return format!("Vault answered {status}");
    }
    let errors: String = errors.chars().take(MAX_ERROR_CHARS).collect();
    format!("Vault answered {status}: {errors}")
}

/// The value of `field` of a JSON object (a string as it is, anything else as JSON text);
/// the error names what is wrong, never the value.
pub(crate) fn json_field(json: &[u8], field: &str) -> Result<Vec<u8>, String> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(json).map_err(|_| "is not a JSON object".to_owned())?;
    match object.get(field) {
        Some(serde_json::Value::String(s)) => Ok(s.clone().into_bytes()),
        Some(other) => Ok(other.to_string().into_bytes()),
        None => Err(format!("has no field `{field}`")),
    }
}

#[cfg(test)]
mod tests;
