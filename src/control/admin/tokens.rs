//! Who may call the admin API: named bearer tokens (`admin_token`, `approvers:`), or, when
//! none is configured, one token generated at first start into the state directory (mode
//! 0600, beside the CA). The admin API never runs without one.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::config::{Approver, Config};
use crate::credentials::SourceError;
use crate::credentials::source::parse_source;
use crate::secret::SecretValue;

/// The generated token's file name in the state directory.
pub const GENERATED_TOKEN_FILE: &str = "admin-token";
/// The name recorded for `admin_token` and the generated token.
pub const ADMIN_NAME: &str = "admin";
/// Shortest token accepted: shorter ones are guessable.
pub const MIN_TOKEN_BYTES: usize = 16;
/// Random bytes in a generated token (43 characters once encoded).
const GENERATED_BYTES: usize = 32;

/// Why the admin tokens could not be loaded. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token of {name}: {source}")]
    Source { name: String, source: SourceError },
    #[error("token of {name} is shorter than {MIN_TOKEN_BYTES} bytes")]
    TooShort { name: String },
    #[error("approver name {0:?} is given twice")]
    Duplicate(String),
    #[error("approver name {0:?} is not allowed: use letters, digits, '.', '_', '-' or '@'")]
    BadName(String),
    #[error("two approvers share one token ({0} and {1})")]
    SharedToken(String, String),
    #[error("admin token file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One named token.
struct Named {
    name: String,
    token: SecretValue,
}

/// The tokens the admin API accepts, each with the name recorded for what it does.
pub struct AdminTokens {
    tokens: Vec<Named>,
    /// Where the generated token is, when no token was configured.
    generated: Option<PathBuf>,
}

impl std::fmt::Debug for AdminTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|t| t.name.as_str()).collect();
        f.debug_struct("AdminTokens")
            .field("names", &names)
            .field("generated", &self.generated)
            .finish()
    }
}

impl AdminTokens {
    /// The configured tokens (`admin_token` as `admin`, then each approver), or the
    /// generated one in `config.ca_dir` when none is configured.
    pub async fn load(config: &Config) -> Result<Self, TokenError> {
        let mut tokens = Vec::new();
        if let Some(spec) = &config.admin_token {
            tokens.push(resolve(ADMIN_NAME, spec).await?);
        }
        for Approver { name, token } in &config.approvers {
            if !valid_name(name) {
                return Err(TokenError::BadName(name.clone()));
            }
            if tokens.iter().any(|t: &Named| &t.name == name) {
                return Err(TokenError::Duplicate(name.clone()));
            }
            tokens.push(resolve(name, token).await?);
        }
        for (i, a) in tokens.iter().enumerate() {
            if let Some(b) = tokens[i + 1..].iter().find(|b| b.token == a.token) {
                return Err(TokenError::SharedToken(a.name.clone(), b.name.clone()));
            }
        }
        if !tokens.is_empty() {
            return Ok(Self {
                tokens,
                generated: None,
            });
        }
        let path = config.ca_dir.join(GENERATED_TOKEN_FILE);
        let token = load_or_generate(&path)?;
        Ok(Self {
            tokens: vec![Named {
                name: ADMIN_NAME.to_owned(),
                token,
            }],
            generated: Some(path),
        })
    }

    /// The name of the token in `Authorization: Bearer TOKEN`, or `None` when the header
    /// is missing or no token matches. Every token is compared in constant time.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Option<&str> {
        self.name_of(authorization?.strip_prefix(b"Bearer ")?)
    }

    /// The name of `given` when it is one of the tokens (the console's sign-in), compared in
    /// constant time with every token.
    pub fn name_of(&self, given: &[u8]) -> Option<&str> {
        let mut found = None;
        for named in &self.tokens {
            if bool::from(named.token.expose().ct_eq(given)) {
                found = Some(named.name.as_str());
            }
        }
        found
    }

    /// The generated token's file, when no token was configured.
    pub fn generated_path(&self) -> Option<&Path> {
        self.generated.as_deref()
    }

    /// The names of the accepted tokens.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|t| t.name.as_str())
    }
}

async fn resolve(name: &str, spec: &str) -> Result<Named, TokenError> {
    let source = |source| TokenError::Source {
        name: name.to_owned(),
        source,
    };
    let token = parse_source(spec)
        .map_err(source)?
        .resolve()
        .await
        .map_err(source)?;
    let trimmed = SecretValue::new(token.expose().trim_ascii());
    if trimmed.len() < MIN_TOKEN_BYTES {
        return Err(TokenError::TooShort {
            name: name.to_owned(),
        });
    }
    Ok(Named {
        name: name.to_owned(),
        token: trimmed,
    })
}

/// Approver names go into audit entries and log lines: keep them plain.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// Reads the token at `path`, or writes a new random one there (mode 0600). A file that
/// others may read is narrowed to 0600 first.
pub fn load_or_generate(path: &Path) -> Result<SecretValue, TokenError> {
    let err = |source| TokenError::File {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match create_private(path) {
        Ok(mut file) => {
            let bytes: [u8; GENERATED_BYTES] = rand::random();
            let token = URL_SAFE_NO_PAD.encode(bytes);
            std::io::Write::write_all(&mut file, token.as_bytes()).map_err(err)?;
            file.sync_all().map_err(err)?;
            Ok(SecretValue::new(token))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            narrow_permissions(path).map_err(err)?;
            let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(err)?);
            let token = SecretValue::new(bytes.trim_ascii());
            if token.len() < MIN_TOKEN_BYTES {
                return Err(TokenError::TooShort {
                    name: ADMIN_NAME.to_owned(),
                });
            }
            Ok(token)
        }
        Err(e) => Err(err(e)),
    }
}

/// Reads a token file written by [`load_or_generate`] (for the CLI clients).
pub fn read_token_file(path: &Path) -> Result<SecretValue, TokenError> {
    let bytes =
        zeroize::Zeroizing::new(std::fs::read(path).map_err(|source| TokenError::File {
            path: path.to_path_buf(),
            source,
        })?);
    Ok(SecretValue::new(bytes.trim_ascii()))
}

#[cfg(unix)]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn narrow_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "admin token file was readable by others; narrowed to 0600");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
