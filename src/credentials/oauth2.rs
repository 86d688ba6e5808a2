//! OAuth 2.0 access tokens as a secret's value (`oauth2:` on a secret): obtained from the
//! token endpoint with the client-credentials or refresh-token grant, cached until shortly
//! before they expire and renewed in the background meanwhile, dropped when an upstream
//! refuses them (401). The client secret and refresh token never leave keyward: they are
//! sent to the token endpoint only, and no error carries them or the endpoint's answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use tokio::time::Instant;

use super::source::{Resolving, SecretSource, SourceError};
use crate::secret::SecretValue;

mod endpoint;

pub use endpoint::{TokenClient, UpstreamEndpoint};

/// How long a token is kept when the endpoint does not say (`expires_in` absent).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Renewal starts this share of a token's lifetime before it expires (at least
/// [`MIN_MARGIN`]), so requests never wait for the endpoint while a token is still good.
const MARGIN_SHARE: u32 = 10;
const MIN_MARGIN: Duration = Duration::from_secs(30);
/// Most of the endpoint's `error` code kept in a reason.
const MAX_ERROR_CHARS: usize = 64;

/// A token request on its way: the endpoint's status and body, or why there is none.
pub type Posting<'a> = Pin<Box<dyn Future<Output = Result<(u16, Bytes), String>> + Send + 'a>>;

/// A token endpoint: posts a form, returns the status and body.
pub trait TokenEndpoint: Send + Sync + 'static {
    /// Where it is, for errors.
    fn url(&self) -> String;
    /// Posts `form` (`application/x-www-form-urlencoded`) with `authorization` if given.
    fn post(&self, form: String, authorization: Option<zeroize::Zeroizing<String>>) -> Posting<'_>;
}

/// How the client authenticates to the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic` with the client id and secret (RFC 6749 §2.3.1's default).
    Basic,
    /// `client_id` and `client_secret` in the form.
    Body,
}

/// What the token request asks for.
pub struct Grant {
    pub client_id: String,
    pub client_secret: Option<Box<dyn SecretSource>>,
    /// `Some`: the refresh-token grant with this token; `None`: client credentials.
    pub refresh_token: Option<Box<dyn SecretSource>>,
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub client_auth: ClientAuth,
}

/// `oauth2:` as a [`SecretSource`].
pub struct OAuth2Source {
    inner: Arc<Inner>,
}

struct Inner {
    grant: Grant,
    endpoint: Box<dyn TokenEndpoint>,
    /// The token in use, when one is.
    token: Mutex<Option<Token>>,
    /// A refresh token the endpoint rotated in, used instead of the declared one.
    rotated: Mutex<Option<SecretValue>>,
    /// One token request at a time; whoever waits on it reads the token it stored.
    fetching: tokio::sync::Mutex<()>,
    /// A background renewal is running.
    renewing: AtomicBool,
}

#[derive(Clone)]
struct Token {
    value: SecretValue,
    /// When renewal starts.
    renew_at: Instant,
    /// When it is no longer used.
    expires_at: Instant,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// The endpoint's error answer (RFC 6749 §5.2); its description is not kept (it may echo
/// what was sent).
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

impl std::fmt::Debug for OAuth2Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl OAuth2Source {
    pub fn new(grant: Grant, endpoint: Box<dyn TokenEndpoint>) -> Self {
        Self {
            inner: Arc::new(Inner {
                grant,
                endpoint,
                token: Mutex::new(None),
                rotated: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
                renewing: AtomicBool::new(false),
            }),
        }
    }
}

impl SecretSource for OAuth2Source {
    fn describe(&self) -> String {
        format!("oauth2:{}", self.inner.endpoint.url())
    }

    fn resolve(&self) -> Resolving<'_> {
        Box::pin(async move {
            let now = Instant::now();
            match self.inner.current() {
                Some(token) if now < token.renew_at => Ok(token.value),
                Some(token) if now < token.expires_at => {
                    self.inner.clone().renew_in_background();
                    Ok(token.value)
                }
                _ => self.inner.fetch(None).await,
            }
        })
    }

    fn rejected(&self, value: &SecretValue) {
        if let Ok(mut token) = self.inner.token.lock()
            && token.as_ref().is_some_and(|t| t.value == *value)
        {
            *token = None;
        }
    }

    fn renews(&self) -> bool {
        true
    }
}

impl Inner {
    fn current(&self) -> Option<Token> {
        self.token.lock().ok()?.clone()
    }

    /// Starts a renewal unless one runs; its failure leaves the current token in use until
    /// it expires (the next request tries again).
    fn renew_in_background(self: Arc<Self>) {
        if self.renewing.swap(true, Ordering::AcqRel) {
            return;
        }
        let stale = self.current().map(|t| t.value);
        tokio::spawn(async move {
            if let Err(e) = self.fetch(stale).await {
                tracing::warn!(error = %e, "renewing an OAuth 2.0 token failed; the current one is used until it expires");
            }
            self.renewing.store(false, Ordering::Release);
        });
    }

    /// A fresh token, unless another request stored one other than `stale` while this one
    /// waited (one token request at a time).
    async fn fetch(&self, stale: Option<SecretValue>) -> Result<SecretValue, SourceError> {
        let _one = self.fetching.lock().await;
        if let Some(token) = self.current()
            && Instant::now() < token.renew_at
            && stale.as_ref() != Some(&token.value)
        {
            return Ok(token.value);
        }
        let sent = Instant::now();
        let (form, authorization) = self.request().await?;
        let (status, body) = self
            .endpoint
            .post(form, authorization)
            .await
            .map_err(|reason| self.error(reason))?;
        if !(200..300).contains(&status) {
            let code = serde_json::from_slice::<ErrorAnswer>(&body)
                .map(|e| {
                    format!(
                        ": {}",
                        e.error.chars().take(MAX_ERROR_CHARS).collect::<String>()
                    )
                })
                .unwrap_or_default();
            return Err(self.error(format!("the token endpoint answered {status}{code}")));
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
            self.error("the token endpoint's answer is not a token response".into())
        })?;
        if answer.access_token.is_empty() {
            return Err(self.error("the token endpoint returned an empty access token".into()));
        }
        let lifetime = answer
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        let margin = (lifetime / MARGIN_SHARE).max(MIN_MARGIN).min(lifetime);
        let token = Token {
            value: SecretValue::new(answer.access_token.into_bytes()),
            renew_at: sent + (lifetime - margin),
            expires_at: sent + lifetime,
        };
        if let Some(rotated) = answer.refresh_token.filter(|r| !r.is_empty())
            && let Ok(mut slot) = self.rotated.lock()
        {
            *slot = Some(SecretValue::new(rotated.into_bytes()));
        }
        if let Ok(mut slot) = self.token.lock() {
            *slot = Some(token.clone());
        }
        Ok(token.value)
    }

    /// The form and `Authorization` of a token request.
    async fn request(&self) -> Result<(String, Option<zeroize::Zeroizing<String>>), SourceError> {
        let g = &self.grant;
        let mut form = zeroize::Zeroizing::new(String::new());
        let mut put = |name: &str, value: &[u8]| {
            if !form.is_empty() {
                form.push('&');
            }
            form.push_str(name);
            form.push('=');
            let text = String::from_utf8_lossy(value);
            form.extend(utf8_percent_encode(&text, NON_ALPHANUMERIC));
        };
        match &g.refresh_token {
            Some(source) => {
                let rotated = self.rotated.lock().ok().and_then(|r| r.clone());
                let token = match rotated {
                    Some(token) => token,
                    None => source.resolve().await?,
                };
                put("grant_type", b"refresh_token");
                put("refresh_token", token.expose());
            }
            None => put("grant_type", b"client_credentials"),
        }
        if let Some(scope) = &g.scope {
            put("scope", scope.as_bytes());
        }
        if let Some(audience) = &g.audience {
            put("audience", audience.as_bytes());
        }
        let secret = match &g.client_secret {
            Some(source) => Some(source.resolve().await?),
            None => None,
        };
        let authorization = match (g.client_auth, &secret) {
            (ClientAuth::Basic, Some(secret)) => {
                // RFC 6749 §2.3.1: both parts form-encoded before they are joined.
                let id = utf8_percent_encode(&g.client_id, NON_ALPHANUMERIC).to_string();
                let text = String::from_utf8_lossy(secret.expose());
                let mut pair = zeroize::Zeroizing::new(format!("{id}:"));
                pair.extend(utf8_percent_encode(&text, NON_ALPHANUMERIC));
                Some(zeroize::Zeroizing::new(format!(
                    "Basic {}",
                    STANDARD.encode(pair.as_bytes())
                )))
            }
            _ => {
                put("client_id", g.client_id.as_bytes());
                if let Some(secret) = &secret {
                    put("client_secret", secret.expose());
                }
                None
            }
        };
        Ok((std::mem::take(&mut *form), authorization))
    }

    fn error(&self, reason: String) -> SourceError {
        SourceError::OAuth2 {
            url: self.endpoint.url(),
            reason,
        }
    }
}

#[cfg(test)]
mod tests;
