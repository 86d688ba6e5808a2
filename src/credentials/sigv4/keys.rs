//! An `aws` secret's parts: the real key pair (and session token) read from one source, as
//! JSON (`aws configure export-credentials` / `credential_process` output, or snake-case
//! names) or as `aws_access_key_id = …` lines of a credentials file; and the placeholder key
//! pair the agent signs with, derived from the CA-key seed and the secret's name.

use sha2::{Digest, Sha256};

use crate::secret::SecretValue;

/// The real credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsKeys {
    pub access_key_id: SecretValue,
    pub secret_access_key: SecretValue,
    pub session_token: Option<SecretValue>,
}

/// Why a source's value is not a usable key pair (names the missing part, never a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    #[error(
        "no {0} (expected JSON with AccessKeyId/SecretAccessKey[/SessionToken] or aws_access_key_id = … lines)"
    )]
    Missing(&'static str),
    #[error("{0} is not printable ASCII")]
    NotText(&'static str),
}

/// The names each part goes by.
const ACCESS_KEY_ID: [&str; 3] = ["AccessKeyId", "aws_access_key_id", "access_key_id"];
const SECRET_ACCESS_KEY: [&str; 3] = [
    "SecretAccessKey",
    "aws_secret_access_key",
    "secret_access_key",
];
const SESSION_TOKEN: [&str; 3] = ["SessionToken", "aws_session_token", "session_token"];

impl AwsKeys {
    /// Parses a source's value.
    pub fn parse(value: &SecretValue) -> Result<Self, KeysError> {
        let text = String::from_utf8_lossy(value.expose());
        let text = text.trim();
        let pairs: Vec<(String, String)> = if text.starts_with('{') {
            let json: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|_| KeysError::Missing("JSON object"))?;
            json.into_iter()
                .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
                .collect()
        } else {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect()
        };
        let lookup = |names: &[&str]| {
            pairs
                .iter()
                .find(|(k, _)| names.contains(&k.as_str()))
                .map(|(_, v)| v.clone())
        };
        let part = |names: &[&str], what: &'static str| -> Result<Option<SecretValue>, KeysError> {
            match lookup(names).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) if v.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(SecretValue::new(v))),
                Some(_) => Err(KeysError::NotText(what)),
            }
        };
        Ok(Self {
            access_key_id: part(&ACCESS_KEY_ID, "access key id")?
                .ok_or(KeysError::Missing("access key id"))?,
            secret_access_key: part(&SECRET_ACCESS_KEY, "secret access key")?
                .ok_or(KeysError::Missing("secret access key"))?,
            session_token: part(&SESSION_TOKEN, "session token")?,
        })
    }

    /// The access key id as text (checked printable ASCII by [`AwsKeys::parse`]).
    pub fn access_key_id(&self) -> String {
        String::from_utf8_lossy(self.access_key_id.expose()).into_owned()
    }
}

/// What the agent holds instead: a key id, a secret key and a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsPlaceholders {
    /// `KEYWARD` and 13 upper-case hex digits (20 characters, as AWS key ids are).
    pub access_key_id: String,
    /// `keyward` and 33 hex digits (40 characters, as AWS secret keys are).
    pub secret_access_key: String,
    /// `keyward-session-` and 32 hex digits.
    pub session_token: String,
}

impl AwsPlaceholders {
    /// Derived from the seed and the name (stable across restarts and replicas sharing the
    /// CA); `access_key_id` replaces the derived key id when the rule file sets one.
    pub fn derive(seed: &[u8; 32], name: &str, access_key_id: Option<&str>) -> Self {
        let part = |what: &str, len: usize| -> String {
            let mut h = Sha256::new();
            h.update(seed);
            h.update(b"aws\0");
            h.update(what.as_bytes());
            h.update(b"\0");
            h.update(name.as_bytes());
            let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
            hex.chars().take(len).collect()
        };
        Self {
            access_key_id: access_key_id.map_or_else(
                || format!("KEYWARD{}", part("access key id", 13).to_ascii_uppercase()),
                str::to_owned,
            ),
            secret_access_key: format!("keyward{}", part("secret access key", 33)),
            session_token: format!("keyward-session-{}", part("session token", 32)),
        }
    }
}
