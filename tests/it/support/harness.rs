//! A test's whole setting in one expression: upstreams by name, rules as YAML, then keyward
//! started in front of them, so a test reads "start upstream, start keyward, make client,
//! assert".
//!
//! ```ignore
//! let h = Harness::new()
//!     .upstream(&["api.example.com"], echo())
//!     .rules("api.yaml", "rules:\n  - id: read\n    url: https://api.example.com/**\n    decision: allow\n")
//!     .start()
//!     .await;
//! assert_eq!(h.agent().get_status(Proto::H1, "https://api.example.com/x").await, 200);
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use keyward::Config;
use keyward::proxy::Listeners;

use super::{Agent, Handler, Keyward, TestCa, Upstream};

/// What the rules YAML and written files may say for the directory [`Harness::file`] writes
/// to (replaced before the YAML is written).
pub const FILES: &str = "$FILES";

/// The ALPN an upstream offers unless a test picks its own.
const HTTP1_ONLY: &[&[u8]] = &[b"http/1.1"];

/// One upstream to start: the names its certificate and keyward's pins carry.
enum UpstreamSpec {
    Https {
        names: Vec<String>,
        alpn: Vec<Vec<u8>>,
        handler: Handler,
    },
    Plain {
        names: Vec<String>,
        handler: Handler,
    },
}

type Tweak = Box<dyn FnOnce(&mut Config)>;

/// Builds a test's upstreams and keyward; [`Harness::start`] starts them.
pub struct Harness {
    upstreams: Vec<UpstreamSpec>,
    /// Files (rules among them) written under one temporary directory before the start.
    files: tempfile::TempDir,
    /// Whether [`Harness::rules`] wrote a rules file (keyward then reads `FILES/rules`).
    has_rules: bool,
    rules_dir: Option<PathBuf>,
    allow: Vec<String>,
    tweaks: Vec<Tweak>,
    /// Sockets bound elsewhere for keyward to serve.
    listeners: Listeners,
}

/// The started setting: keyward, the upstreams in the order they were added, and the files.
pub struct Running {
    pub keyward: Keyward,
    pub upstreams: Vec<Upstream>,
    /// The CA the upstreams' certificates come from (what keyward trusts upstream).
    pub ca: TestCa,
    /// The directory [`Harness::file`] and [`Harness::rules`] wrote to.
    pub files: tempfile::TempDir,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self {
            upstreams: Vec::new(),
            files: tempfile::tempdir().unwrap(),
            has_rules: false,
            rules_dir: None,
            allow: Vec::new(),
            tweaks: Vec::new(),
            listeners: Listeners::default(),
        }
    }

    /// An HTTPS upstream (HTTP/1.1 only) for `names`, each pinned as `name:443`.
    pub fn upstream(self, names: &[&str], handler: Handler) -> Self {
        self.upstream_alpn(names, HTTP1_ONLY, handler)
    }

    /// An HTTPS upstream for `names` offering `alpn` (e.g. `&[b"h2", b"http/1.1"]`).
    pub fn upstream_alpn(mut self, names: &[&str], alpn: &[&[u8]], handler: Handler) -> Self {
        self.upstreams.push(UpstreamSpec::Https {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
            handler,
        });
        self
    }

    /// A plain-HTTP upstream for `names`, each pinned as `name:80` (see [`Harness::allow`]).
    pub fn plain_upstream(mut self, names: &[&str], handler: Handler) -> Self {
        self.upstreams.push(UpstreamSpec::Plain {
            names: names.iter().map(|n| (*n).to_owned()).collect(),
            handler,
        });
        self
    }

    /// The files directory (for a test that formats a path into its YAML itself).
    pub fn files_dir(&self) -> &Path {
        self.files.path()
    }

    /// Writes `contents` (with [`FILES`] replaced) to `name` under the files directory.
    pub fn file(self, name: &str, contents: &str) -> Self {
        let path = self.files.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let dir = self.files.path().display().to_string();
        std::fs::write(path, contents.replace(FILES, &dir)).unwrap();
        self
    }

    /// A rules file `name` holding `yaml` (with [`FILES`] replaced); keyward reads every
    /// file given this way.
    pub fn rules(mut self, name: &str, yaml: &str) -> Self {
        self.has_rules = true;
        self.file(&format!("rules/{name}"), yaml)
    }

    /// Rules read from `dir` (e.g. a copy of the example rules) instead.
    pub fn rules_dir(mut self, dir: PathBuf) -> Self {
        self.rules_dir = Some(dir);
        self
    }

    /// Allows `host` over plain HTTP.
    pub fn allow(mut self, host: &str) -> Self {
        self.allow.push(host.to_owned());
        self
    }

    /// A transparent listener bound elsewhere (e.g. inside a network namespace) for keyward
    /// to serve.
    pub fn transparent_listener(mut self, socket: std::net::TcpListener) -> Self {
        self.listeners.transparent.push(socket);
        self
    }

    /// Adjusts keyward's configuration further (applied in order, after everything else).
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'static) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Starts the upstreams, then keyward pinning their names to them.
    pub async fn start(self) -> Running {
        let ca = TestCa::new();
        let mut upstreams = Vec::new();
        let mut resolve: Vec<(String, SocketAddr)> = Vec::new();
        for spec in self.upstreams {
            let (upstream, names, port) = match spec {
                UpstreamSpec::Https {
                    names,
                    alpn,
                    handler,
                } => {
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    let alpn: Vec<&[u8]> = alpn.iter().map(Vec::as_slice).collect();
                    let upstream = Upstream::https(&ca, &refs, &alpn, handler).await;
                    (upstream, names, 443)
                }
                UpstreamSpec::Plain { names, handler } => {
                    (Upstream::plain(handler).await, names, 80)
                }
            };
            resolve.extend(names.iter().map(|n| (format!("{n}:{port}"), upstream.addr)));
            upstreams.push(upstream);
        }
        let resolve: Vec<(&str, SocketAddr)> =
            resolve.iter().map(|(t, a)| (t.as_str(), *a)).collect();
        let allow: Vec<&str> = self.allow.iter().map(String::as_str).collect();
        let rules_dir = match self.rules_dir {
            Some(dir) => Some(dir),
            None => self.has_rules.then(|| self.files.path().join("rules")),
        };
        let tweaks = self.tweaks;
        let keyward = Keyward::start_with(&ca, &resolve, &allow, self.listeners, |c| {
            if let Some(dir) = rules_dir {
                c.rules_dir = dir;
            }
            for tweak in tweaks {
                tweak(c);
            }
        })
        .await;
        Running {
            keyward,
            upstreams,
            ca,
            files: self.files,
        }
    }
}

impl Running {
    /// The first upstream.
    pub fn upstream(&self) -> &Upstream {
        &self.upstreams[0]
    }

    /// An agent that trusts keyward (no credentials).
    pub fn agent(&self) -> Agent {
        self.keyward.agent()
    }

    /// The admin API's address.
    pub fn admin(&self) -> SocketAddr {
        self.keyward.running.admin_addr().unwrap()
    }

    /// The files directory the setting was written to.
    pub fn files_dir(&self) -> &Path {
        self.files.path()
    }
}
