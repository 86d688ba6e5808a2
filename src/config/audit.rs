//! `audit:` in `keyward.yaml`: where and how the log is written, the replica id, the form
//! of the stdout copy, and the signed checkpoints.

use std::time::Duration;

use serde::Deserialize;

use super::{Config, ConfigError, DEFAULT_AUDIT_LOG};
use crate::audit::checkpoint::schedule::{CheckpointConfig, KeySource};
use crate::audit::export::otlp::OtlpConfig;
use crate::audit::{AuditConfig, FsyncPolicy, LineFormat};

/// `audit:` in `keyward.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAudit {
    /// The live log file.
    pub path: Option<std::path::PathBuf>,
    /// `always`, `never`, or an interval such as `1s`.
    pub fsync: Option<String>,
    /// Rotate before the file grows past this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Also write every entry to stdout (JSON lines, for a cluster log pipeline).
    pub stdout: Option<bool>,
    /// The stdout copy's form: `keyward` (the log's lines) or `ocsf`.
    pub format: Option<FileFormat>,
    /// The id written into every entry (default: the host name).
    pub replica: Option<String>,
    /// Signed checkpoints; absent: none.
    pub checkpoints: Option<FileCheckpoints>,
    /// Export to an OTLP/HTTP collector; absent: none.
    pub otlp: Option<FileOtlp>,
    /// `false` turns the audit log off (exchanges are then only logged).
    pub enabled: Option<bool>,
}

/// `audit.format`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// The log's own chained lines.
    Keyward,
    /// OCSF HTTP Activity events.
    Ocsf,
}

/// `audit.checkpoints:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCheckpoints {
    /// The signing key: `env:NAME`, `file:PATH`, an argv list or `{exec: [argv]}`.
    pub key: FileKeySource,
    /// Sign after this many entries (default 1000).
    pub every: Option<u64>,
    /// Sign when this long has passed with entries unsigned (default `60s`).
    pub interval: Option<String>,
}

/// `audit.otlp:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOtlp {
    /// The collector's OTLP/HTTP URL (`http://collector:4318`).
    pub endpoint: String,
}

/// Where the signing key comes from, as written in the file.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FileKeySource {
    /// `env:NAME` or `file:PATH`.
    Text(String),
    /// An argv list.
    Argv(Vec<String>),
    /// `{exec: [argv]}`.
    Exec {
        /// The command.
        exec: Vec<String>,
    },
}

impl FileAudit {
    /// Applies the section over `config`.
    pub fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        if self.enabled == Some(false) {
            config.audit = None;
            return Ok(());
        }
        let mut audit = config
            .audit
            .take()
            .unwrap_or_else(|| AuditConfig::new(DEFAULT_AUDIT_LOG));
        if let Some(path) = self.path {
            audit.path = path;
        }
        if let Some(fsync) = self.fsync {
            audit.fsync = match fsync.as_str() {
                "always" => FsyncPolicy::Always,
                "never" => FsyncPolicy::Never,
                other => FsyncPolicy::Interval(duration("audit.fsync", other)?),
            };
        }
        if let Some(bytes) = self.rotate_bytes {
            audit.rotate_bytes = Some(bytes);
        }
        if let Some(stdout) = self.stdout {
            audit.also_stdout = stdout;
        }
        if let Some(format) = self.format {
            audit.stdout_format = match format {
                FileFormat::Keyward => LineFormat::Keyward,
                FileFormat::Ocsf => LineFormat::Ocsf,
            };
        }
        if let Some(replica) = self.replica {
            audit.replica = Some(replica);
        }
        if let Some(c) = self.checkpoints {
            let key = match c.key {
                FileKeySource::Text(spec) => KeySource::Spec(spec),
                FileKeySource::Argv(argv) | FileKeySource::Exec { exec: argv } => {
                    KeySource::Exec(argv)
                }
            };
            let mut checkpoints = CheckpointConfig::new(key);
            if let Some(every) = c.every {
                checkpoints.every_entries = every.max(1);
            }
            if let Some(interval) = c.interval {
                checkpoints.interval = duration("audit.checkpoints.interval", &interval)?;
            }
            audit.checkpoints = Some(checkpoints);
        }
        if let Some(otlp) = self.otlp {
            audit.otlp = Some(OtlpConfig {
                endpoint: otlp.endpoint,
            });
        }
        config.audit = Some(audit);
        Ok(())
    }
}

fn duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| ConfigError::Duration {
        key: key.into(),
        value: value.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::FileConfig;

    #[test]
    fn checkpoints_replica_format_and_otlp_are_read() {
        let file: FileConfig = serde_saphyr::from_str(
            "audit:\n  replica: kw-0\n  format: ocsf\n  stdout: true\n  checkpoints:\n    key: file:/run/keys/audit.pem\n    every: 10\n    interval: 5s\n",
        )
        .unwrap();
        let mut config = Config::default();
        file.apply(&mut config).unwrap();
        let audit = config.audit.unwrap();
        assert_eq!(audit.replica.as_deref(), Some("kw-0"));
        assert_eq!(audit.stdout_format, LineFormat::Ocsf);
        let c = audit.checkpoints.unwrap();
        assert_eq!(c.key, KeySource::Spec("file:/run/keys/audit.pem".into()));
        assert_eq!((c.every_entries, c.interval), (10, Duration::from_secs(5)));

        let file: FileConfig =
            serde_saphyr::from_str("audit:\n  checkpoints:\n    key: {exec: [vault, read]}\n")
                .unwrap();
        let mut config = Config::default();
        file.apply(&mut config).unwrap();
        let c = config.audit.unwrap().checkpoints.unwrap();
        assert_eq!(c.key, KeySource::Exec(vec!["vault".into(), "read".into()]));
        assert_eq!(c.every_entries, 1000);

        let file: FileConfig =
            serde_saphyr::from_str("audit:\n  otlp:\n    endpoint: http://127.0.0.1:4318\n")
                .unwrap();
        let mut config = Config::default();
        file.apply(&mut config).unwrap();
        let otlp = config.audit.unwrap().otlp.unwrap();
        assert_eq!(otlp.endpoint, "http://127.0.0.1:4318");
    }
}
