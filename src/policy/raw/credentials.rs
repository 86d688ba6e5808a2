//! Raw `secrets:` and `agents:` entries, where a credential comes from (`from:` sources,
//! OAuth 2.0 token endpoints, secret managers), and a rule's `sign:`.

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::SStr;

/// One entry of `secrets:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecret {
    /// `aws` for an AWS key pair that signs requests; absent for a token.
    #[serde(default)]
    pub kind: Option<SStr>,
    /// Where the value is read (absent for an `oauth2:` secret, whose value is obtained).
    #[serde(default)]
    pub from: Option<Spanned<RawSource>>,
    #[serde(default)]
    pub oauth2: Option<Spanned<RawOAuth2>>,
    #[serde(default)]
    pub placeholder: Option<String>,
    #[serde(default)]
    pub env: Option<String>,
    pub hosts: Vec<SStr>,
    #[serde(default)]
    pub methods: Option<Vec<SStr>>,
    #[serde(default)]
    pub paths: Option<Vec<SStr>>,
}

/// `oauth2:` of a secret: the token endpoint and the grant its access tokens come from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOAuth2 {
    pub token_url: SStr,
    pub client_id: SStr,
    #[serde(default)]
    pub client_secret: Option<Spanned<RawSource>>,
    #[serde(default)]
    pub refresh_token: Option<Spanned<RawSource>>,
    #[serde(default)]
    pub scope: Option<SStr>,
    #[serde(default)]
    pub audience: Option<SStr>,
    #[serde(default)]
    pub client_auth: Option<SStr>,
}

/// `sign:` of a rule: an HMAC signature header computed with a secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSign {
    pub secret: SStr,
    pub header: SStr,
    pub message: SStr,
    #[serde(default)]
    pub algorithm: Option<SStr>,
    #[serde(default)]
    pub encoding: Option<SStr>,
    #[serde(default)]
    pub value: Option<SStr>,
    #[serde(default)]
    pub timestamp_header: Option<SStr>,
}

/// One entry of `agents:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub token: Spanned<RawSource>,
}

/// Where a credential comes from: `env:NAME`, `file:PATH`, an argv list, or `{exec: [argv]}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSource {
    Text(String),
    Argv(Vec<String>),
    Exec {
        exec: Vec<String>,
    },
    /// Kept as a value and read into [`RawAwsSm`] by the compiler, so an unknown or
    /// missing key is reported by name.
    AwsSecretsManager {
        aws_secrets_manager: Value,
    },
    /// Read into [`RawVault`] by the compiler.
    Vault {
        vault: Value,
    },
}

/// `aws_secrets_manager:` of a source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAwsSm {
    pub secret_id: String,
    pub region: String,
    #[serde(default)]
    pub field: Option<String>,
    pub credentials: RawSource,
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub ttl: Option<String>,
}

/// `vault:` of a source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVault {
    pub address: String,
    pub path: String,
    pub field: String,
    pub auth: RawVaultAuth,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub ttl: Option<String>,
}

/// `auth:` of a `vault:` source: exactly one method.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVaultAuth {
    #[serde(default)]
    pub token: Option<RawSource>,
    #[serde(default)]
    pub approle: Option<RawAppRole>,
}

/// `approle:` of a `vault:` source's `auth:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAppRole {
    pub role_id: RawSource,
    pub secret_id: RawSource,
}
