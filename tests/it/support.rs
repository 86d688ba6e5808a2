//! Shared helpers for the integration tests: a test CA minted at run time, recording HTTPS
//! upstreams, keyward started on port 0, and clients that speak through it.

pub mod agent;
pub mod audit_log;
pub mod browser;
pub mod child;
/// The content-coding encoders the crate's unit tests compress bodies with (one
/// implementation).
#[path = "../../src/content_coding/encode.rs"]
pub mod coding;
/// The encoders the scrubber's unit tests echo secrets through (one implementation).
#[path = "../../src/redact/patterns/encoders.rs"]
pub mod encoders;
pub mod eventually;
pub mod git_http;
pub mod h2raw;
pub mod harness;
pub mod kube_volume;
pub mod llm_providers;
pub mod mcp_sdk;
pub mod netns;
pub mod package_index;
pub mod raw;
pub mod redis_server;
pub mod rules;
pub mod test_ca;
pub mod upstream;
pub mod widgets;

use std::net::SocketAddr;
use std::path::PathBuf;

use keyward::audit::AuditConfig;
use keyward::config::{Config, ResolveOverride};
use keyward::proxy::Listeners;
use keyward::{Proxy, RunningProxy};

pub use agent::Agent;
pub use eventually::{eventually, eventually_async, within, within_async};
pub use harness::Harness;
pub use test_ca::TestCa;
pub use upstream::{Handler, Upstream};

/// The `node_modules` directory scripts/test installs the tests' npm packages in
/// (`KEYWARD_TEST_NODE_DIR`, default `~/.cache/keyward-test-node`), holding each of `packages`.
pub fn node_modules(packages: &[&str]) -> PathBuf {
    let dir = std::env::var_os("KEYWARD_TEST_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/keyward-test-node")
        });
    let modules = dir.join("node_modules");
    for package in packages {
        assert!(
            modules.join(package).exists(),
            "{package} is required in {} (scripts/test installs it)",
            modules.display()
        );
    }
    modules
}

/// The admin token every in-process keyward of these tests accepts (as `admin`).
pub const ADMIN_TOKEN: &str = "test-admin-token-7d1f0c9b2e";

/// A keyward instance on 127.0.0.1:0 with its own CA directory.
pub struct Keyward {
    pub running: RunningProxy,
    pub addr: SocketAddr,
    /// keyward's CA certificate (what agents trust).
    pub ca_path: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Keyward {
    /// Starts keyward trusting `upstream_ca`, pinning each `(host:port, addr)` and allowing
    /// each host in `allow`; `tweak` adjusts the configuration further.
    pub async fn start(
        upstream_ca: &TestCa,
        resolve: &[(&str, SocketAddr)],
        allow: &[&str],
        tweak: impl FnOnce(&mut Config),
    ) -> Keyward {
        Self::start_with(upstream_ca, resolve, allow, Listeners::default(), tweak).await
    }

    /// As [`Keyward::start`], serving `listeners` (bound elsewhere, e.g. in a namespace) too.
    pub async fn start_with(
        upstream_ca: &TestCa,
        resolve: &[(&str, SocketAddr)],
        allow: &[&str],
        listeners: Listeners,
        tweak: impl FnOnce(&mut Config),
    ) -> Keyward {
        init_logs();
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("admin-token.configured");
        std::fs::write(&token_file, ADMIN_TOKEN).unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ca_dir: dir.path().join("certs"),
            rules_dir: dir.path().join("rules"),
            upstream_ca: vec![upstream_ca.path.clone()],
            resolve: resolve
                .iter()
                .map(|(target, addr)| {
                    format!("{target}:{addr}")
                        .parse::<ResolveOverride>()
                        .unwrap()
                })
                .collect(),
            allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
            audit: Some(AuditConfig::new(dir.path().join("audit.jsonl"))),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_token: Some(format!("file:{}", token_file.display())),
            ..Config::default()
        };
        tweak(&mut config);
        let proxy = Proxy::bind_with(config, listeners).await.unwrap();
        let addr = proxy.local_addr();
        let ca_path = proxy.ca_path().to_path_buf();
        Keyward {
            running: proxy.spawn(),
            addr,
            ca_path,
            dir,
        }
    }

    /// Starts keyward trusting `upstream_ca`, allowing `host` and pinning `host:443` to
    /// `upstream`; `tweak` adjusts the configuration further.
    pub async fn in_front_of(
        upstream_ca: &TestCa,
        host: &str,
        upstream: SocketAddr,
        tweak: impl FnOnce(&mut Config),
    ) -> Keyward {
        let target = format!("{host}:443");
        Self::start(upstream_ca, &[(&target, upstream)], &[host], tweak).await
    }

    /// The audit log's path.
    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// The audit log's text once keyward's writer has flushed every entry so far.
    pub async fn flushed_audit_log(&self) -> String {
        self.running.handles().audit().unwrap().flush().await;
        std::fs::read_to_string(self.audit_path()).unwrap()
    }

    /// An agent that trusts this keyward.
    pub fn agent(&self) -> Agent {
        Agent::new(self.addr, &self.ca_path)
    }

    /// `http://127.0.0.1:PORT`, for HTTPS_PROXY.
    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// GET `path` from an admin API at `admin` (`host:port`) without a token.
pub async fn admin_get(admin: &str, path: &str) -> agent::Reply {
    admin_get_as(admin, None, path).await
}

/// GET `path` from an admin API at `admin`, with `token` as the bearer token.
pub async fn admin_get_as(admin: &str, token: Option<&str>, path: &str) -> agent::Reply {
    let tcp = tokio::net::TcpStream::connect(admin).await.unwrap();
    let (mut s, c) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(c);
    let mut req = http::Request::get(path).header("host", "admin");
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    agent::collect(s.send_request(req).await.unwrap()).await
}

/// Sends keyward's logs to the test output (shown for failing tests).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("keyward=debug")),
        )
        .with_test_writer()
        .try_init();
}
