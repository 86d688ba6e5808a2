//! Where a secret's value comes from: the environment, a file (re-read when it changes, so
//! rotated tokens apply without restart) or a command (output trimmed, cached for a TTL).
//! A trait: AWS Secrets Manager and HashiCorp Vault are further sources (`aws_sm`, `vault`).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::secret::SecretValue;

/// How long a command's output is reused by default.
pub const DEFAULT_EXEC_TTL: Duration = Duration::from_secs(300);
/// How long a command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(10);

/// A boxed future returned by [`SecretSource::resolve`].
pub type Resolving<'a> =
    Pin<Box<dyn Future<Output = Result<SecretValue, SourceError>> + Send + 'a>>;

/// A place a secret value can be read from.
pub trait SecretSource: Send + Sync + std::fmt::Debug {
    /// How the source is written in rule files (`env:NAME`, `file:PATH`, `exec:[…]`).
    fn describe(&self) -> String;
    /// The current value; an error fails the request closed.
    fn resolve(&self) -> Resolving<'_>;
    /// An upstream refused `value` (401): a source that can obtain another drops it.
    fn rejected(&self, _value: &SecretValue) {}
    /// Whether [`SecretSource::rejected`] makes the next [`SecretSource::resolve`] obtain
    /// a new value (so a refused request is worth retrying once).
    fn renews(&self) -> bool {
        false
    }
}

/// Why a value could not be read. Never contains the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("cannot read secret file {path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("secret command {command} failed: {reason}")]
    Exec { command: String, reason: String },
    #[error("secret from {0} is empty")]
    Empty(String),
    #[error("invalid secret source {0:?}: expected env:NAME, file:PATH or an exec argv list")]
    Invalid(String),
    #[error("OAuth 2.0 token endpoint {url} failed: {reason}")]
    OAuth2 { url: String, reason: String },
    #[error("secret manager {source_name} failed: {reason}")]
    Manager { source_name: String, reason: String },
    #[error("secret from {from} is not an AWS key pair: {reason}")]
    AwsKeys {
        from: String,
        reason: super::sigv4::KeysError,
    },
}

/// `env:NAME`.
#[derive(Debug)]
pub struct EnvSource(pub String);

impl SecretSource for EnvSource {
    fn describe(&self) -> String {
        format!("env:{}", self.0)
    }

    fn resolve(&self) -> Resolving<'_> {
        let result = std::env::var_os(&self.0)
            .ok_or_else(|| SourceError::EnvMissing(self.0.clone()))
            .and_then(|v| non_empty(v.into_encoded_bytes(), || self.describe()));
        Box::pin(async move { result })
    }
}

/// `file:PATH`: the file's content, trimmed; re-read whenever the file it resolves to (links
/// followed) changes: its modification time, size or identity.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    cached: Mutex<Option<(Stamp, SecretValue)>>,
}

/// What tells one version of a secret file from the next: its modification time, size and
/// (on Unix) device and inode, so a file swapped in with the same size and time still counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
    identity: (u64, u64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let identity = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let identity = (0, 0);
        Stamp {
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            len: meta.len(),
            identity,
        }
    }
}

impl FileSource {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: Mutex::new(None),
        }
    }

    fn read(&self) -> Result<SecretValue, SourceError> {
        let err = |reason: String| SourceError::File {
            path: self.path.clone(),
            reason,
        };
        // `metadata` follows links: a Kubernetes secret volume's `token -> ..data/token`
        // resolves to the new file once `..data` is swapped, with its own identity.
        let meta = std::fs::metadata(&self.path).map_err(|e| err(e.to_string()))?;
        let stamp = Stamp::of(&meta);
        if let Ok(cached) = self.cached.lock()
            && let Some((seen, value)) = cached.as_ref()
            && *seen == stamp
        {
            return Ok(value.clone());
        }
        let bytes = std::fs::read(&self.path).map_err(|e| err(e.to_string()))?;
        let value = non_empty(bytes, || self.describe())?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((stamp, value.clone()));
        }
        Ok(value)
    }
}

impl SecretSource for FileSource {
    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }

    fn resolve(&self) -> Resolving<'_> {
        let result = self.read();
        Box::pin(async move { result })
    }
}

/// `exec: [argv…]`: the command's standard output, trimmed, reused for `ttl`.
#[derive(Debug)]
pub struct ExecSource {
    argv: Vec<String>,
    ttl: Duration,
    /// The last value and when it was read (tokio's clock, so a paused test clock drives the
    /// reuse).
    cached: tokio::sync::Mutex<Option<(Instant, SecretValue)>>,
}

impl ExecSource {
    pub fn new(argv: Vec<String>, ttl: Duration) -> Self {
        Self {
            argv,
            ttl,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn run(&self) -> Result<SecretValue, SourceError> {
        let command = self.describe();
        let err = |reason: String| SourceError::Exec {
            command: command.clone(),
            reason,
        };
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| err("empty argv".into()))?;
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(EXEC_TIMEOUT, child)
            .await
            .map_err(|_| err(format!("timed out after {}s", EXEC_TIMEOUT.as_secs())))?
            .map_err(|e| err(e.to_string()))?;
        if !output.status.success() {
            // stderr is not reported: a failing secret helper may print the secret there.
            return Err(err(format!("exited with {}", output.status)));
        }
        non_empty(output.stdout, || self.describe())
    }
}

impl SecretSource for ExecSource {
    fn describe(&self) -> String {
        format!("exec:{:?}", self.argv)
    }

    fn resolve(&self) -> Resolving<'_> {
        Box::pin(async move {
            let mut cached = self.cached.lock().await;
            if let Some((at, value)) = cached.as_ref()
                && at.elapsed() < self.ttl
            {
                return Ok(value.clone());
            }
            let value = self.run().await?;
            *cached = Some((Instant::now(), value.clone()));
            Ok(value)
        })
    }
}

/// Trims surrounding whitespace (a trailing newline in files and command output) and
/// refuses an empty value; `describe` names the source only then, so a value read per
/// request formats nothing.
fn non_empty(
    bytes: Vec<u8>,
    describe: impl FnOnce() -> String,
) -> Result<SecretValue, SourceError> {
    let bytes = zeroize::Zeroizing::new(bytes);
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => Ok(SecretValue::new(bytes[s..=e].to_vec())),
        _ => Err(SourceError::Empty(describe())),
    }
}

/// Parses `env:NAME` or `file:PATH` (an exec source is given as an argv list).
pub fn parse_source(spec: &str) -> Result<Box<dyn SecretSource>, SourceError> {
    if let Some(name) = spec.strip_prefix("env:").filter(|n| !n.is_empty()) {
        return Ok(Box::new(EnvSource(name.to_owned())));
    }
    if let Some(path) = spec.strip_prefix("file:").filter(|p| !p.is_empty()) {
        return Ok(Box::new(FileSource::new(PathBuf::from(path))));
    }
    Err(SourceError::Invalid(spec.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_source_picks_up_a_rotated_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first-value\n").unwrap();
        let source = FileSource::new(path.clone());
        assert_eq!(source.resolve().await.unwrap().expose(), b"first-value");
        std::fs::write(&path, "second-value-longer\n").unwrap();
        assert_eq!(
            source.resolve().await.unwrap().expose(),
            b"second-value-longer"
        );
        std::fs::write(&path, "\n").unwrap();
        assert!(matches!(source.resolve().await, Err(SourceError::Empty(_))));
    }

    /// Publishes `files` as kubelet's AtomicWriter does: a new timestamped directory, a
    /// `..data_tmp` link to it renamed over `..data`, the old directory removed.
    #[cfg(unix)]
    fn kubelet_publish(dir: &std::path::Path, stamp: &str, files: &[(&str, &str)]) {
        let version = dir.join(stamp);
        std::fs::create_dir(&version).unwrap();
        for (name, text) in files {
            let path = version.join(name);
            std::fs::write(&path, text).unwrap();
            // One time for every version: only the file's identity tells them apart.
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_292_000))
                .unwrap();
        }
        let old = std::fs::read_link(dir.join("..data")).ok();
        std::os::unix::fs::symlink(stamp, dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        for (name, _) in files {
            let link = dir.join(name);
            if std::fs::symlink_metadata(&link).is_err() {
                std::os::unix::fs::symlink(format!("..data/{name}"), link).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(dir.join(old)).unwrap();
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn file_source_follows_a_kubernetes_data_link_swap() {
        let dir = tempfile::tempdir().unwrap();
        kubelet_publish(
            dir.path(),
            "..2026_12_03_10_00_00.123",
            &[("token", "value-one\n")],
        );
        let source = FileSource::new(dir.path().join("token"));
        assert_eq!(source.resolve().await.unwrap().expose(), b"value-one");
        // Same length and time: only the file's identity differs.
        kubelet_publish(
            dir.path(),
            "..2026_12_03_10_05_00.456",
            &[("token", "value-two\n")],
        );
        assert_eq!(source.resolve().await.unwrap().expose(), b"value-two");
    }

    #[tokio::test]
    async fn exec_source_trims_caches_and_fails_closed() {
        let ok = ExecSource::new(
            vec!["sh".into(), "-c".into(), "echo '  s3cr3t  '".into()],
            DEFAULT_EXEC_TTL,
        );
        assert_eq!(ok.resolve().await.unwrap().expose(), b"s3cr3t");
        let failing = ExecSource::new(
            vec![
                "sh".into(),
                "-c".into(),
                "echo sec\"\"ret-out >&2; exit 3".into(),
            ],
            DEFAULT_EXEC_TTL,
        );
        let err = failing.resolve().await.unwrap_err().to_string();
        assert!(err.contains("exited with"), "{err}");
        assert!(
            !err.contains("secret-out"),
            "stderr must not be reported: {err}"
        );
    }

    #[tokio::test]
    async fn exec_source_reuses_its_value_for_the_ttl_then_runs_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("value");
        std::fs::write(&path, "first").unwrap();
        let ttl = Duration::from_secs(60);
        let source = ExecSource::new(vec!["cat".into(), path.display().to_string()], ttl);
        assert_eq!(source.resolve().await.unwrap().expose(), b"first");
        std::fs::write(&path, "second").unwrap();
        tokio::time::pause();
        tokio::time::advance(ttl - Duration::from_secs(1)).await;
        assert_eq!(source.resolve().await.unwrap().expose(), b"first");
        tokio::time::advance(Duration::from_secs(1)).await;
        // The command runs on the real clock again (a paused one would time it out at once).
        tokio::time::resume();
        assert_eq!(source.resolve().await.unwrap().expose(), b"second");
    }

    #[tokio::test]
    async fn env_source_reports_missing_variable_by_name() {
        let source = EnvSource("KEYWARD_TEST_SURELY_UNSET_VARIABLE".into());
        let err = source.resolve().await.unwrap_err();
        assert!(
            err.to_string()
                .contains("KEYWARD_TEST_SURELY_UNSET_VARIABLE")
        );
        assert!(parse_source("vault:x").is_err());
        assert_eq!(parse_source("env:X").unwrap().describe(), "env:X");
    }
}
