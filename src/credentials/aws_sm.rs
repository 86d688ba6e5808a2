//! AWS Secrets Manager as a secret's source (`from: {aws_secrets_manager: …}`):
//! `GetSecretValue` over HTTPS (the JSON 1.1 protocol), signed with SigV4 using the key pair
//! another source holds; the value (or one field of its JSON) is reused for a TTL. A failure
//! fails closed and names AWS's error type (`ResourceNotFoundException`,
//! `AccessDeniedException`, …), never the value or AWS's message.

use bytes::Bytes;
use serde::Deserialize;
use tokio::time::Instant;

use super::api_client::ApiClient;
use super::sigv4::{ALGORITHM, AwsKeys, Scope, Signed, sha256_hex, signature};
use super::source::{Resolving, SecretSource, SourceError};
use crate::policy::AwsSmDecl;
use crate::secret::SecretValue;

/// Most characters of AWS's error type kept in a reason.
const MAX_TYPE_CHARS: usize = 80;

/// `aws_secrets_manager:` as a [`SecretSource`].
pub struct AwsSmSource {
    decl: AwsSmDecl,
    /// The key pair's source.
    keys: Box<dyn SecretSource>,
    api: Box<dyn ApiClient>,
    /// The value and when it was read (tokio's clock).
    cached: tokio::sync::Mutex<Option<(Instant, SecretValue)>>,
}

/// GetSecretValue's answer; the value is in one of the two.
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "SecretString", default)]
    secret_string: Option<String>,
    #[serde(rename = "SecretBinary", default)]
    secret_binary: Option<String>,
}

/// AWS's error answer: only its type is kept (the message may echo the request).
#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(rename = "__type", default)]
    kind: Option<String>,
}

impl std::fmt::Debug for AwsSmSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl AwsSmSource {
    pub fn new(decl: AwsSmDecl, keys: Box<dyn SecretSource>, api: Box<dyn ApiClient>) -> Self {
        Self {
            decl,
            keys,
            api,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The service's URL.
    fn endpoint(&self) -> String {
        match &self.decl.endpoint {
            Some(uri) => uri.to_string(),
            None => format!("https://secretsmanager.{}.amazonaws.com/", self.decl.region),
        }
    }

    fn error(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Manager {
            source_name: self.describe(),
            reason: reason.into(),
        }
    }

    /// Reads the value from the service.
    async fn read(&self) -> Result<SecretValue, SourceError> {
        let keys_value = self.keys.resolve().await?;
        let keys = AwsKeys::parse(&keys_value).map_err(|reason| SourceError::AwsKeys {
            from: self.keys.describe(),
            reason,
        })?;
        let body = serde_json::json!({ "SecretId": self.decl.secret_id }).to_string();
        let now = time::OffsetDateTime::now_utc();
        let req = self
            .signed_request(&keys, Bytes::from(body), now)
            .map_err(|e| self.error(e))?;
        let (status, answer) = self.api.call(req).await.map_err(|e| self.error(e))?;
        if !(200..300).contains(&status) {
            let kind = serde_json::from_slice::<ErrorAnswer>(&answer)
                .ok()
                .and_then(|e| e.kind)
                .map(|k| {
                    // `com.amazonaws…#ResourceNotFoundException` is named by its last part.
                    let k = k.rsplit('#').next().unwrap_or_default().to_owned();
                    format!(": {}", k.chars().take(MAX_TYPE_CHARS).collect::<String>())
                })
                .unwrap_or_default();
            return Err(self.error(format!("GetSecretValue answered {status}{kind}")));
        }
        let answer: Answer = serde_json::from_slice(&answer)
            .map_err(|_| self.error("GetSecretValue's answer is not JSON"))?;
        let whole = match (answer.secret_string, answer.secret_binary) {
            (Some(text), _) => zeroize::Zeroizing::new(text.into_bytes()),
            (None, Some(b64)) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| self.error("SecretBinary is not base64"))?;
                zeroize::Zeroizing::new(bytes)
            }
            (None, None) => return Err(self.error("the secret has no value")),
        };
        let value = match &self.decl.field {
            None => whole.to_vec(),
            Some(field) => super::vault::json_field(&whole, field)
                .map_err(|reason| self.error(format!("the secret's value {reason}")))?,
        };
        if value.is_empty() {
            return Err(SourceError::Empty(self.describe()));
        }
        Ok(SecretValue::new(value))
    }

    /// The GetSecretValue request, signed with `keys` at `now`.
    fn signed_request(
        &self,
        keys: &AwsKeys,
        body: Bytes,
        now: time::OffsetDateTime,
    ) -> Result<http::Request<Bytes>, String> {
        let url: http::Uri = self
            .endpoint()
            .parse()
            .map_err(|_| "invalid endpoint".to_owned())?;
        let host = url
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| "endpoint has no host".to_owned())?;
        let format =
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
        let timestamp = now.format(&format).map_err(|e| e.to_string())?;
        let scope = Scope {
            date: timestamp.chars().take(8).collect(),
            region: self.decl.region.clone(),
            service: "secretsmanager".into(),
        };
        let mut headers = vec![
            (
                "content-type".to_owned(),
                "application/x-amz-json-1.1".into(),
            ),
            ("host".to_owned(), host),
            ("x-amz-date".to_owned(), timestamp.clone()),
            (
                "x-amz-target".to_owned(),
                "secretsmanager.GetSecretValue".into(),
            ),
        ];
        let session = keys
            .session_token
            .as_ref()
            .map(|t| String::from_utf8_lossy(t.expose()).into_owned());
        if let Some(token) = &session {
            headers.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        // `SignedHeaders` lists them sorted, as the canonical request does.
        headers.sort();
        let payload_hash = sha256_hex(&body);
        let path = url.path().to_owned();
        let signed = Signed {
            method: "POST",
            path: &path,
            query: &[],
            headers: &headers,
            payload_hash: &payload_hash,
            timestamp: &timestamp,
            scope: &scope,
        };
        let sig = signature(&signed, keys.secret_access_key.expose());
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        let authorization = format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={sig}",
            keys.access_key_id(),
            scope.render(),
            names.join(";")
        );
        let mut builder = http::Request::post(url);
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut req = builder
            .body(body)
            .map_err(|_| "invalid request".to_owned())?;
        let mut auth = http::HeaderValue::from_str(&authorization)
            .map_err(|_| "the access key id is not a header value".to_owned())?;
        auth.set_sensitive(true);
        req.headers_mut().insert(http::header::AUTHORIZATION, auth);
        if let Some(token) = req.headers_mut().get_mut("x-amz-security-token") {
            token.set_sensitive(true);
        }
        Ok(req)
    }
}

impl SecretSource for AwsSmSource {
    fn describe(&self) -> String {
        format!(
            "aws_secrets_manager:{}/{}{}",
            self.decl.region,
            self.decl.secret_id,
            self.decl
                .field
                .as_ref()
                .map(|f| format!("#{f}"))
                .unwrap_or_default()
        )
    }

    fn resolve(&self) -> Resolving<'_> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((at, value)) = cached.as_ref()
                && at.elapsed() < self.decl.ttl
            {
                return Ok(value.clone());
            }
            let value = self.read().await?;
            *cached = Some((Instant::now(), value.clone()));
            Ok(value)
        })
    }
}

#[cfg(test)]
mod tests;
