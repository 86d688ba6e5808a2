//! keyward's runtime configuration: defaults, the optional `keyward.yaml`, and the command-line
//! flags, merged and validated into one [`Config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::audit::{AuditConfig, FsyncPolicy};

pub use crate::policy::HostAllow;
use crate::target::Target;

/// Default audit log, relative to the working directory.
pub const DEFAULT_AUDIT_LOG: &str = "logs/audit.jsonl";

/// Default proxy listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3128";

/// The validated configuration a proxy runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where agents connect.
    pub listen: SocketAddr,
    /// Directory holding `ca.pem` and `ca-key.pem`.
    pub ca_dir: PathBuf,
    /// Directory of rule files.
    pub rules_dir: PathBuf,
    /// Extra PEM files of roots trusted for upstream servers (added to the built-in roots).
    pub upstream_ca: Vec<PathBuf>,
    /// Operator-pinned addresses for HOST:PORT (bypass DNS and the private-address guard).
    pub resolve: Vec<ResolveOverride>,
    /// Quick-start host-wide allows (`--allow HOST[:PORT]`).
    pub allow: Vec<HostAllow>,
    /// Log line format.
    pub log_format: LogFormat,
    /// Resource limits and timeouts.
    pub limits: Limits,
    /// How many hosts' leaf certificates are kept.
    pub cert_cache_capacity: usize,
    /// The audit log (`None`: exchanges are only logged).
    pub audit: Option<AuditConfig>,
    /// The admin API's address (`None`: no admin API).
    pub admin_listen: Option<SocketAddr>,
    /// Where the admin API's bearer token comes from (`env:NAME` or `file:PATH`); without
    /// one the admin API listens only on loopback.
    pub admin_token: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3128)),
            ca_dir: PathBuf::from("certs"),
            rules_dir: PathBuf::from("rules"),
            upstream_ca: Vec::new(),
            resolve: Vec::new(),
            allow: Vec::new(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            cert_cache_capacity: 10_000,
            audit: Some(AuditConfig::new(DEFAULT_AUDIT_LOG)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 3129))),
            admin_token: None,
        }
    }
}

/// Limits that bound what one client or upstream can make keyward hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line + headers), bytes; over it: 431.
    pub max_header_bytes: usize,
    /// Most request headers; over it: 431.
    pub max_headers: usize,
    /// Time a client has to send a complete request head (slowloris guard); also how long
    /// an HTTP/1 keep-alive connection may wait for its next request.
    pub header_read_timeout: Duration,
    /// A connection or tunnel with no bytes either way and no exchange in flight for this
    /// long is closed.
    pub idle_timeout: Duration,
    /// Time to establish TCP + TLS to an upstream; over it: 504.
    pub upstream_connect_timeout: Duration,
    /// Time from sending a request upstream to its response head; over it: 504.
    pub upstream_response_timeout: Duration,
    /// Most client connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight exchanges before exiting.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            upstream_connect_timeout: Duration::from_secs(10),
            upstream_response_timeout: Duration::from_secs(60),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `HOST:PORT:ADDR`: connect to ADDR for HOST:PORT, keeping SNI and certificate checks for
/// HOST. ADDR may carry its own port (`127.0.0.1:8443`, `[::1]:8443`); without one, PORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveOverride {
    pub target: Target,
    pub addr: SocketAddr,
}

impl std::str::FromStr for ResolveOverride {
    type Err = ConfigError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ConfigError::Resolve {
            value: raw.to_owned(),
            reason: why.to_owned(),
        };
        // HOST may be a bracketed IPv6 literal, so split after the host's closing bracket.
        let host_end = if raw.starts_with('[') {
            raw.find(']')
                .map(|i| i + 1)
                .ok_or_else(|| bad("unclosed ["))?
        } else {
            raw.find(':')
                .ok_or_else(|| bad("expected HOST:PORT:ADDR"))?
        };
        let (host, rest) = raw.split_at(host_end);
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| bad("expected HOST:PORT:ADDR"))?;
        let (port, addr) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected HOST:PORT:ADDR"))?;
        let target =
            Target::parse_authority(&format!("{host}:{port}")).map_err(|e| bad(&e.to_string()))?;
        let addr = parse_addr(addr, target.port).ok_or_else(|| bad("ADDR is not an IP address"))?;
        Ok(Self { target, addr })
    }
}

fn parse_addr(raw: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(sock) = raw.parse::<SocketAddr>() {
        return Some(sock);
    }
    let bare = raw.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, default_port))
}

/// Keys of `keyward.yaml`; every key is optional and flags override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
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
    pub admin_listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub audit_log: Option<PathBuf>,
    pub audit: Option<FileAudit>,
    #[serde(default)]
    pub limits: FileLimits,
}

/// `audit:` in `keyward.yaml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAudit {
    /// The live log file.
    pub path: Option<PathBuf>,
    /// `always`, `never`, or an interval such as `1s`.
    pub fsync: Option<String>,
    /// Rotate before the file grows past this many bytes.
    pub rotate_bytes: Option<u64>,
    /// Also write every entry to stdout (JSON lines, for a cluster log pipeline).
    pub stdout: Option<bool>,
    /// `false` turns the audit log off (exchanges are then only logged).
    pub enabled: Option<bool>,
}

impl FileAudit {
    fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
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
                other => FsyncPolicy::Interval(humantime::parse_duration(other).map_err(|e| {
                    ConfigError::Duration {
                        key: "audit.fsync".into(),
                        value: other.to_owned(),
                        reason: e.to_string(),
                    }
                })?),
            };
        }
        if let Some(bytes) = self.rotate_bytes {
            audit.rotate_bytes = Some(bytes);
        }
        if let Some(stdout) = self.stdout {
            audit.also_stdout = stdout;
        }
        config.audit = Some(audit);
        Ok(())
    }
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
        if let Some(v) = self.admin_listen {
            config.admin_listen = Some(v);
        }
        if let Some(v) = self.admin_token {
            config.admin_token = Some(v);
        }
        if let Some(v) = self.audit_log {
            config.audit = Some(AuditConfig::new(v));
        }
        if let Some(audit) = self.audit {
            audit.apply(config)?;
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

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("invalid --resolve {value:?}: {reason}")]
    Resolve { value: String, reason: String },
    #[error(transparent)]
    Allow(#[from] crate::policy::HostAllowError),
    #[error("invalid duration for {key}: {value:?}: {reason}")]
    Duration {
        key: String,
        value: String,
        reason: String,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn resolve_accepts_curl_form_and_address_with_port() {
        let r: ResolveOverride = "api.github.com:443:127.0.0.1".parse().unwrap();
        assert_eq!(r.addr, "127.0.0.1:443".parse().unwrap());
        let r: ResolveOverride = "api.github.com:443:127.0.0.1:8443".parse().unwrap();
        assert_eq!(r.addr, "127.0.0.1:8443".parse().unwrap());
        let r: ResolveOverride = "[::1]:443:[::1]:9000".parse().unwrap();
        assert_eq!(r.target.to_string(), "[::1]:443");
        assert_eq!(r.addr, "[::1]:9000".parse().unwrap());
        assert!("api.github.com:443".parse::<ResolveOverride>().is_err());
        assert!(
            "api.github.com:443:not-an-ip"
                .parse::<ResolveOverride>()
                .is_err()
        );
    }

    #[test]
    fn allow_with_and_without_port() {
        let a: HostAllow = "PyPI.org".parse().unwrap();
        assert_eq!(a.port, None);
        let a: HostAllow = "pypi.org:443".parse().unwrap();
        assert_eq!(a.port, Some(443));
        assert!("pypi.org/simple".parse::<HostAllow>().is_err());
    }

    #[test]
    fn audit_section_sets_fsync_rotation_and_stdout() {
        let file: FileConfig = serde_saphyr::from_str(
            "audit:\n  path: /var/log/kw.jsonl\n  fsync: always\n  rotate_bytes: 1000\n  stdout: true\n",
        )
        .unwrap();
        let mut config = Config::default();
        file.apply(&mut config).unwrap();
        let audit = config.audit.unwrap();
        assert_eq!(audit.path, PathBuf::from("/var/log/kw.jsonl"));
        assert_eq!(audit.fsync, FsyncPolicy::Always);
        assert_eq!(audit.rotate_bytes, Some(1000));
        assert!(audit.also_stdout);
        let off: FileConfig = serde_saphyr::from_str("audit:\n  enabled: false\n").unwrap();
        let mut config = Config::default();
        off.apply(&mut config).unwrap();
        assert!(config.audit.is_none());
    }

    #[test]
    fn file_config_rejects_unknown_keys_and_applies_limits() {
        let bad: Result<FileConfig, _> = serde_saphyr::from_str("listne: 1.2.3.4:1\n");
        assert!(bad.is_err());
        let file: FileConfig =
            serde_saphyr::from_str("limits:\n  idle_timeout: 5s\n  max_headers: 7\n").unwrap();
        let mut config = Config::default();
        file.apply(&mut config).unwrap();
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(5));
        assert_eq!(config.limits.max_headers, 7);
    }
}
