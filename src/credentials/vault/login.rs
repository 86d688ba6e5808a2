//! The client token a Vault source reads with: from a source, or from an AppRole login
//! (`POST /v1/auth/approle/login`) kept until shortly before its lease ends.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::time::Instant;

use super::answered;
use crate::credentials::api_client::ApiClient;
use crate::credentials::source::{SecretSource, SourceError};
use crate::secret::SecretValue;

/// A login is renewed this share of its lease before the lease ends (at least
/// [`MIN_MARGIN`], at most the whole lease).
const MARGIN_SHARE: u32 = 10;
const MIN_MARGIN: Duration = Duration::from_secs(30);
/// How long a login is kept when Vault gives it no lease (a token that never expires is
/// still logged in again now and then, so a revoked one is noticed).
const UNLEASED: Duration = Duration::from_secs(300);

/// Where the client token comes from.
pub enum VaultLogin {
    /// A token read from a source on each read (a file source re-reads it when rotated).
    Token(Box<dyn SecretSource>),
    /// AppRole.
    AppRole(AppRole),
}

/// An AppRole login and the token it obtained.
pub struct AppRole {
    /// The server, without a trailing `/`.
    pub address: String,
    pub namespace: Option<String>,
    pub role_id: Box<dyn SecretSource>,
    pub secret_id: Box<dyn SecretSource>,
    pub api: Arc<dyn ApiClient>,
    /// The token and when it is renewed (tokio's clock).
    pub token: Mutex<Option<(Instant, SecretValue)>>,
    /// One login at a time.
    pub logging_in: tokio::sync::Mutex<()>,
}

/// The login's answer (`auth.client_token`, `auth.lease_duration`).
#[derive(Deserialize)]
struct LoginAnswer {
    auth: LoginAuth,
}

#[derive(Deserialize)]
struct LoginAuth {
    client_token: String,
    #[serde(default)]
    lease_duration: u64,
}

impl VaultLogin {
    /// The token to read with.
    pub async fn token(&self) -> Result<SecretValue, SourceError> {
        match self {
            VaultLogin::Token(source) => source.resolve().await,
            VaultLogin::AppRole(approle) => approle.token().await,
        }
    }

    /// Vault refused `token`: an AppRole login obtains another next time.
    pub fn rejected(&self, token: &SecretValue) {
        if let VaultLogin::AppRole(approle) = self
            && let Ok(mut slot) = approle.token.lock()
            && slot.as_ref().is_some_and(|(_, t)| t == token)
        {
            *slot = None;
        }
    }
}

impl AppRole {
    fn current(&self) -> Option<SecretValue> {
        let slot = self.token.lock().ok()?;
        let (renew_at, token) = slot.as_ref()?;
        (Instant::now() < *renew_at).then(|| token.clone())
    }

    fn error(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Manager {
            source_name: format!("vault:{}/v1/auth/approle/login", self.address),
            reason: reason.into(),
        }
    }

    async fn token(&self) -> Result<SecretValue, SourceError> {
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let _one = self.logging_in.lock().await;
        if let Some(token) = self.current() {
            return Ok(token);
        }
        let role_id = self.role_id.resolve().await?;
        let secret_id = self.secret_id.resolve().await?;
        let body = zeroize::Zeroizing::new(
            serde_json::json!({
                "role_id": String::from_utf8_lossy(role_id.expose()),
                "secret_id": String::from_utf8_lossy(secret_id.expose()),
            })
            .to_string(),
        );
        let mut req = http::Request::post(format!("{}/v1/auth/approle/login", self.address))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Bytes::from(body.as_bytes().to_vec()))
            .map_err(|_| self.error("invalid address"))?;
        if let Some(ns) = &self.namespace {
            let ns = http::HeaderValue::from_str(ns)
                .map_err(|_| self.error("the namespace is not a header value"))?;
            req.headers_mut().insert("x-vault-namespace", ns);
        }
        let sent = Instant::now();
        let (status, answer) = self.api.call(req).await.map_err(|e| self.error(e))?;
        if !(200..300).contains(&status) {
            return Err(self.error(answered(status, &answer)));
        }
        let answer: LoginAnswer = serde_json::from_slice(&answer)
            .map_err(|_| self.error("the answer is not a login (auth.client_token)"))?;
        if answer.auth.client_token.is_empty() {
            return Err(self.error("the login returned an empty client token"));
        }
        let lease = match answer.auth.lease_duration {
            0 => UNLEASED,
            secs => Duration::from_secs(secs),
        };
        let margin = (lease / MARGIN_SHARE).max(MIN_MARGIN).min(lease);
        let token = SecretValue::new(answer.auth.client_token.into_bytes());
        if let Ok(mut slot) = self.token.lock() {
            *slot = Some((sent + (lease - margin), token.clone()));
        }
        Ok(token)
    }
}

/// An AppRole role id written as text in the rule file (it is not a secret).
#[derive(Debug)]
pub struct RoleIdText(pub String);

impl SecretSource for RoleIdText {
    fn describe(&self) -> String {
        format!("role_id {}", self.0)
    }

    fn resolve(&self) -> crate::credentials::source::Resolving<'_> {
        let value = SecretValue::new(self.0.clone().into_bytes());
        Box::pin(async move { Ok(value) })
    }
}
