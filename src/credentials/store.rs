//! The declared credentials: name, source, placeholder, and the destinations each may ever
//! be sent to; resolves values on demand and builds the redaction set of known values.

use std::sync::Arc;

pub use crate::policy::SecretName;
pub use crate::policy::url_pattern::HostPattern;
use crate::redact::Scrubber;
use crate::secret::SecretValue;

use super::scope::Scope;
use super::sigv4::{AwsKeys, AwsPlaceholders};
use super::source::{SecretSource, SourceError};

/// What the agent holds instead of a secret (`keyward:github:7f3c…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Placeholder(pub String);

impl Placeholder {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One declared secret.
#[derive(Debug)]
pub struct Credential {
    pub name: SecretName,
    pub source: Box<dyn SecretSource>,
    pub placeholder: Placeholder,
    /// Environment variable `keyward run` sets to the placeholder.
    pub env_var: Option<String>,
    /// Where the secret may ever be sent; empty means nowhere.
    pub hosts: Vec<HostPattern>,
    /// The methods and paths it may be sent with (`methods:`, `paths:`).
    pub scope: Scope,
    /// For a secret of kind `aws`, the placeholder key pair the agent signs with
    /// (`placeholder` is then its access key id).
    pub aws: Option<AwsPlaceholders>,
}

impl Credential {
    /// Whether this secret may be sent to `host`.
    pub fn bound_to(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|p| p.matches(&host))
    }
}

/// All declared secrets.
#[derive(Debug, Default)]
pub struct CredentialStore {
    credentials: Vec<Credential>,
    /// Finds any placeholder in any encoding (raw, URL, JSON, base64).
    placeholders: Arc<Scrubber>,
    /// Whether any source renews its value when an upstream refuses it (OAuth 2.0).
    renewing: bool,
}

impl CredentialStore {
    pub fn new(credentials: Vec<Credential>) -> Self {
        let values: Vec<SecretValue> = credentials
            .iter()
            .map(|c| SecretValue::new(c.placeholder.as_str()))
            .collect();
        let placeholders = Arc::new(Scrubber::new(
            values
                .iter()
                .zip(credentials.iter())
                .map(|(v, c)| (v, c.placeholder.as_str())),
        ));
        let renewing = credentials.iter().any(|c| c.source.renews());
        Self {
            credentials,
            placeholders,
            renewing,
        }
    }

    /// Whether any secret's source renews its value when an upstream refuses it.
    pub fn has_renewing(&self) -> bool {
        self.renewing
    }

    pub fn is_empty(&self) -> bool {
        self.credentials.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Credential> {
        self.credentials.iter()
    }

    pub fn get(&self, name: &SecretName) -> Option<&Credential> {
        self.credentials.iter().find(|c| &c.name == name)
    }

    /// Finds any declared placeholder, in any encoding (shared with streamed-body guards).
    pub fn placeholder_detector(&self) -> &Arc<Scrubber> {
        &self.placeholders
    }

    /// The credentials whose placeholder appears in `bytes`, in any encoding.
    pub fn placeholders_in(&self, bytes: &[u8]) -> Vec<&Credential> {
        self.placeholders
            .owners_found(bytes)
            .into_iter()
            .filter_map(|i| self.credentials.get(i))
            .collect()
    }

    /// The current real key pair of the `aws` secret `cred`.
    pub async fn aws_keys(cred: &Credential) -> Result<AwsKeys, SourceError> {
        let value = cred.source.resolve().await?;
        AwsKeys::parse(&value).map_err(|reason| SourceError::AwsKeys {
            from: cred.source.describe(),
            reason,
        })
    }

    /// The current value of `name`.
    pub async fn resolve(&self, name: &SecretName) -> Result<SecretValue, SourceError> {
        match self.get(name) {
            Some(c) => c.source.resolve().await,
            None => Err(SourceError::Invalid(name.to_string())),
        }
    }

    /// A scrubber for every secret whose source resolves now (each replaced by its
    /// placeholder), `previous` itself when built from the same values; sources that fail are
    /// left out and reported by name.
    pub async fn known_values(
        &self,
        previous: Option<&Arc<Scrubber>>,
    ) -> (Arc<Scrubber>, Vec<(SecretName, SourceError)>) {
        let mut values = Vec::new();
        let mut failures = Vec::new();
        for c in &self.credentials {
            match (&c.aws, c.source.resolve().await) {
                (None, Ok(v)) => values.push((v, c.placeholder.as_str())),
                (Some(aws), Ok(v)) => match AwsKeys::parse(&v) {
                    Ok(keys) => {
                        values.push((keys.access_key_id, aws.access_key_id.as_str()));
                        values.push((keys.secret_access_key, aws.secret_access_key.as_str()));
                        if let Some(token) = keys.session_token {
                            values.push((token, aws.session_token.as_str()));
                        }
                    }
                    Err(reason) => failures.push((
                        c.name.clone(),
                        SourceError::AwsKeys {
                            from: c.source.describe(),
                            reason,
                        },
                    )),
                },
                (_, Err(e)) => failures.push((c.name.clone(), e)),
            }
        }
        let pairs = || values.iter().map(|(v, p)| (v, *p));
        let scrubber = match previous {
            Some(previous) if previous.is_built_from(pairs()) => previous.clone(),
            _ => Arc::new(Scrubber::new(pairs())),
        };
        (scrubber, failures)
    }
}
