//! keyward's runtime configuration: defaults, the optional `keyward.yaml`, and the command-line
//! flags, merged and validated into one [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::audit::AuditConfig;
pub use crate::control::shared_state::{RedisUrl, StateConfig};

mod audit;
mod file;

pub use audit::FileAudit;
pub use file::{FileConfig, FileLimits, FileState};

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
    /// Where connections redirected by the kernel (`iptables`/`nft` REDIRECT) arrive: served
    /// for their original destination, by SNI or Host, without the proxy protocol.
    pub transparent_listen: Vec<SocketAddr>,
    /// The declared agent redirected connections are attributed to (they carry no proxy
    /// credentials); required when agents are declared.
    pub transparent_agent: Option<String>,
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
    /// Threads serving agents' connections, each with a runtime and upstream pools of its
    /// own, so a request never changes threads on its way (0: one per CPU).
    pub workers: usize,
    /// The audit log (`None`: exchanges are only logged).
    pub audit: Option<AuditConfig>,
    /// The admin API's address (`None`: no admin API).
    pub admin_listen: Option<SocketAddr>,
    /// Where the actions are served over MCP (streamable HTTP at `/mcp`; `None`: not served).
    pub actions_listen: Option<SocketAddr>,
    /// Where the admin API's bearer token comes from (`env:NAME` or `file:PATH`); recorded
    /// as `admin`. Without it and without approvers, a token is generated
    /// into `ca_dir` at first start.
    pub admin_token: Option<String>,
    /// Named approver tokens: the name goes into the audit entry of what each approves.
    pub approvers: Vec<Approver>,
    /// Learn mode (`--learn`, never the default): what the rules would deny or hold is
    /// forwarded and recorded as a would-be decision; the proxy's own guards still refuse.
    pub learn: bool,
    /// The state replicas share (`None`: counters and approvals in this process's memory).
    pub state: Option<StateConfig>,
}

/// `approvers:` entry: a person (or team) and where their admin API token comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    /// Recorded in audit entries and log lines (letters, digits, `.`, `_`, `-`, `@`).
    pub name: String,
    /// A secret source: `env:NAME` or `file:PATH`.
    pub token: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 3128)),
            transparent_listen: Vec::new(),
            transparent_agent: None,
            ca_dir: PathBuf::from("certs"),
            rules_dir: PathBuf::from("rules"),
            upstream_ca: Vec::new(),
            resolve: Vec::new(),
            allow: Vec::new(),
            log_format: LogFormat::Text,
            limits: Limits::default(),
            cert_cache_capacity: 10_000,
            workers: 0,
            audit: Some(AuditConfig::new(DEFAULT_AUDIT_LOG)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 3129))),
            actions_listen: None,
            admin_token: None,
            approvers: Vec::new(),
            learn: false,
            state: None,
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
    #[error("state.redis {url}: expected a redis:// or rediss:// URL")]
    StateUrl { url: String },
    #[error("invalid duration for {key}: {value:?}: {reason}")]
    Duration {
        key: String,
        value: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::FsyncPolicy;

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
    fn the_actions_listener_is_off_by_default_and_comes_from_the_file() {
        let mut config = Config::default();
        assert_eq!(config.actions_listen, None);
        let file: FileConfig = serde_saphyr::from_str("actions_listen: 127.0.0.1:3130\n").unwrap();
        file.apply(&mut config).unwrap();
        assert_eq!(
            config.actions_listen,
            Some("127.0.0.1:3130".parse().unwrap())
        );
    }

    #[test]
    fn workers_come_from_the_file_and_zero_means_one_per_cpu() {
        let file: FileConfig = serde_saphyr::from_str("workers: 3\n").unwrap();
        let mut config = Config::default();
        assert_eq!(config.workers, 0);
        file.apply(&mut config).unwrap();
        assert_eq!(config.workers, 3);
        assert_eq!(crate::server::workers::count(3), 3);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(crate::server::workers::count(0), cpus);
    }

    #[test]
    fn transparent_listeners_and_agent_come_from_the_file() {
        let file: FileConfig = serde_saphyr::from_str(
            "transparent_listen: [\"127.0.0.1:15001\", \"[::1]:15001\"]\ntransparent_agent: ci-bot\n",
        )
        .unwrap();
        let mut config = Config::default();
        file.apply(&mut config).unwrap();
        assert_eq!(
            config.transparent_listen,
            vec![
                "127.0.0.1:15001".parse::<SocketAddr>().unwrap(),
                "[::1]:15001".parse().unwrap()
            ]
        );
        assert_eq!(config.transparent_agent.as_deref(), Some("ci-bot"));
    }

    #[test]
    fn the_shared_state_comes_from_the_file_and_hides_its_password() {
        let file: FileConfig = serde_saphyr::from_str(
            "state:\n  redis: rediss://kw:inline-pass@redis.internal:6380\n  password: env:REDIS_PASSWORD\n",
        )
        .unwrap();
        let mut config = Config::default();
        assert!(config.state.is_none());
        file.apply(&mut config).unwrap();
        let state = config.state.clone().unwrap();
        assert_eq!(state.password.as_deref(), Some("env:REDIS_PASSWORD"));
        assert!(!format!("{config:?}").contains("inline-pass"));
        let bad: FileConfig = serde_saphyr::from_str("state:\n  redis: http://h:1\n").unwrap();
        let err = bad.apply(&mut Config::default()).unwrap_err().to_string();
        assert!(err.contains("redis://"), "{err}");
        let unknown: Result<FileConfig, _> = serde_saphyr::from_str("state:\n  memcached: x\n");
        assert!(unknown.is_err());
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
