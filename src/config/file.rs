//! `keyward.yaml`: the optional file form of the flags (every key optional, flags win),
//! parsed raw and applied over the defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::audit::FileAudit;
use super::{Approver, Config, ConfigError, Limits, LogFormat, RedisUrl, StateConfig};
use crate::audit::AuditConfig;

/// Keys of `keyward.yaml`; every key is optional and flags override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub transparent_listen: Vec<SocketAddr>,
    pub transparent_agent: Option<String>,
    pub ca_dir: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    #[serde(default)]
    pub upstream_ca: Vec<PathBuf>,
    #[serde(default)]
    pub resolve: Vec<String>,
    #[serde(default)]
    pub allow: Vec<String>,
    pub log_format: Option<LogFormat>,
    pub cert_cache_capacity: Option<usize>,
    pub workers: Option<usize>,
    pub admin_listen: Option<SocketAddr>,
    pub actions_listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    #[serde(default)]
    pub approvers: Vec<Approver>,
    pub audit_log: Option<PathBuf>,
    pub audit: Option<FileAudit>,
    #[serde(default)]
    pub limits: FileLimits,
    pub state: Option<FileState>,
}

/// `state:` in `keyward.yaml`: where replicas share counters and approvals.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileState {
    /// `redis://…` or `rediss://…`.
    pub redis: RedisUrl,
    /// A secret source (`env:NAME`, `file:PATH`) for the password.
    pub password: Option<String>,
    /// PEM roots for a `rediss://` server with a private CA.
    pub ca: Option<PathBuf>,
}

/// `limits:` in `keyward.yaml`; durations as `30s`, `500ms`, `2m`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub header_read_timeout: Option<String>,
    pub idle_timeout: Option<String>,
    pub upstream_connect_timeout: Option<String>,
    pub upstream_response_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub shutdown_grace: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_saphyr::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Applies the file's keys over `config`.
    pub fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if !self.transparent_listen.is_empty() {
            config.transparent_listen = self.transparent_listen;
        }
        if let Some(v) = self.transparent_agent {
            config.transparent_agent = Some(v);
        }
        if let Some(v) = self.ca_dir {
            config.ca_dir = v;
        }
        if let Some(v) = self.rules {
            config.rules_dir = v;
        }
        config.upstream_ca.extend(self.upstream_ca);
        for r in &self.resolve {
            config.resolve.push(r.parse()?);
        }
        for a in &self.allow {
            config.allow.push(a.parse()?);
        }
        if let Some(v) = self.log_format {
            config.log_format = v;
        }
        if let Some(v) = self.cert_cache_capacity {
            config.cert_cache_capacity = v;
        }
        if let Some(v) = self.workers {
            config.workers = v;
        }
        if let Some(v) = self.admin_listen {
            config.admin_listen = Some(v);
        }
        if let Some(v) = self.actions_listen {
            config.actions_listen = Some(v);
        }
        if let Some(v) = self.admin_token {
            config.admin_token = Some(v);
        }
        config.approvers.extend(self.approvers);
        if let Some(v) = self.audit_log {
            config.audit = Some(AuditConfig::new(v));
        }
        if let Some(audit) = self.audit {
            audit.apply(config)?;
        }
        if let Some(state) = self.state {
            if !state.redis.scheme_ok() {
                return Err(ConfigError::StateUrl {
                    url: state.redis.shown(),
                });
            }
            config.state = Some(StateConfig {
                redis: state.redis,
                password: state.password,
                ca: state.ca,
            });
        }
        self.limits.apply(&mut config.limits)
    }
}

impl FileLimits {
    fn apply(self, limits: &mut Limits) -> Result<(), ConfigError> {
        let dur = |key: &str, v: Option<String>, slot: &mut Duration| -> Result<(), ConfigError> {
            if let Some(v) = v {
                *slot = humantime::parse_duration(&v).map_err(|e| ConfigError::Duration {
                    key: key.to_owned(),
                    value: v.clone(),
                    reason: e.to_string(),
                })?;
            }
            Ok(())
        };
        if let Some(v) = self.max_header_bytes {
            limits.max_header_bytes = v.max(8192);
        }
        if let Some(v) = self.max_headers {
            limits.max_headers = v;
        }
        if let Some(v) = self.max_connections {
            limits.max_connections = v.max(1);
        }
        dur(
            "header_read_timeout",
            self.header_read_timeout,
            &mut limits.header_read_timeout,
        )?;
        dur("idle_timeout", self.idle_timeout, &mut limits.idle_timeout)?;
        dur(
            "upstream_connect_timeout",
            self.upstream_connect_timeout,
            &mut limits.upstream_connect_timeout,
        )?;
        dur(
            "upstream_response_timeout",
            self.upstream_response_timeout,
            &mut limits.upstream_response_timeout,
        )?;
        dur(
            "shutdown_grace",
            self.shutdown_grace,
            &mut limits.shutdown_grace,
        )
    }
}
