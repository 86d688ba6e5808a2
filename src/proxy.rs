//! A keyward proxy instance: builds the shared state from a [`Config`] (CA, leaf cache,
//! upstream client, policy, connection builders), binds the listener, runs and drains.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::active::{Active, ActiveRules};
use crate::admin::tokens::AdminTokens;
use crate::approvals::Approvals;
use crate::audit::{AuditError, AuditHandle, AuditWriter};
use crate::ca::{CaError, CertificateAuthority, LeafIssuer, ServerConfigCache};
use crate::config::Config;
use crate::exchange::Recorder;
use crate::limits::{CounterStore, MemoryCounters};
use crate::listener;
use crate::metrics::Metrics;
use crate::target::Target;
use crate::upstream::{RootsError, Upstream, upstream_roots};

mod builders;
mod drain;

use builders::{outer_builder, tunnel_builder};
use drain::drain;

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Ca(#[from] CaError),
    #[error(transparent)]
    Roots(#[from] RootsError),
    #[error("upstream TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("rules in {dir} do not compile:\n{errors}")]
    Rules {
        dir: PathBuf,
        errors: crate::policy::CompileErrors,
    },
    #[error("audit log: {0}")]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// State shared by every connection of one proxy.
pub struct Shared {
    config: Config,
    certs: ServerConfigCache,
    upstream: Upstream,
    /// The rules and credentials in force (swapped on reload).
    active: ActiveRules,
    /// Where every exchange's audit entry goes (`None`: log lines only).
    audit: Option<AuditHandle>,
    metrics: Arc<Metrics>,
    /// Requests held for a person.
    approvals: Approvals,
    /// Rate-limit counters.
    counters: Box<dyn CounterStore>,
    /// Targets the operator pinned with `--resolve` (the guard does not apply to them).
    pinned: HashSet<Target>,
    /// Where every exchange and connection-level refusal is recorded (the one writer).
    recorder: Arc<Recorder>,
    /// Cancelled when the proxy stops accepting.
    shutdown: CancellationToken,
    /// Cancelled when the grace period is over: connections still open are closed at once,
    /// and the guards of their exchanges record them.
    stop_now: CancellationToken,
    /// Every connection and tunnel task, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Serves decrypted HTTP/1.1 in tunnels.
    tunnel_h1: auto::Builder<TokioExecutor>,
    /// Serves decrypted HTTP/2 in tunnels.
    tunnel_h2: auto::Builder<TokioExecutor>,
    /// Serves the proxy protocol on client connections.
    outer: hyper::server::conn::http1::Builder,
}

impl Shared {
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn certs(&self) -> &ServerConfigCache {
        &self.certs
    }
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }
    /// The rules and credentials in force for a new exchange.
    pub fn active(&self) -> Arc<Active> {
        self.active.current()
    }
    /// Reloading the rules.
    pub fn rules(&self) -> &ActiveRules {
        &self.active
    }
    pub fn audit(&self) -> Option<&AuditHandle> {
        self.audit.as_ref()
    }
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
    pub fn approvals(&self) -> &Approvals {
        &self.approvals
    }
    pub fn counters(&self) -> &dyn CounterStore {
        self.counters.as_ref()
    }
    /// Where a new exchange records its end.
    pub fn recorder(&self) -> Arc<Recorder> {
        self.recorder.clone()
    }
    /// False while the audit log cannot be written: new requests are refused.
    pub fn audit_healthy(&self) -> bool {
        self.audit.as_ref().is_none_or(AuditHandle::is_healthy)
    }
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
    /// Cancelled when shutdown stops waiting for in-flight exchanges.
    pub fn stop_now(&self) -> &CancellationToken {
        &self.stop_now
    }
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }
    pub fn outer_builder(&self) -> &hyper::server::conn::http1::Builder {
        &self.outer
    }
    /// The builder for a tunnel whose agent negotiated `h2` (or not).
    pub fn tunnel_builder(&self, h2: bool) -> &auto::Builder<TokioExecutor> {
        if h2 { &self.tunnel_h2 } else { &self.tunnel_h1 }
    }
    /// Whether the operator pinned `target` with `--resolve`.
    pub fn is_pinned(&self, target: &Target) -> bool {
        self.pinned.contains(target)
    }
}

/// A bound, not yet running proxy.
pub struct Proxy {
    shared: Arc<Shared>,
    listener: TcpListener,
    /// The admin listener and the tokens it accepts, when the admin API is on.
    admin: Option<(TcpListener, AdminTokens)>,
    addr: SocketAddr,
    ca_path: PathBuf,
    /// The audit writer's task, awaited at the end of [`Proxy::run`] so every entry is
    /// written and synced before the proxy returns.
    audit_task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Loads (or creates) the CA, builds the upstream client, binds the listen address.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        let ca = Arc::new(CertificateAuthority::load_or_create(&config.ca_dir)?);
        let ca_path = ca.cert_path().to_path_buf();
        let active = ActiveRules::load(
            &config.rules_dir,
            config.allow.clone(),
            ca.placeholder_seed(),
        )
        .map_err(|errors| StartError::Rules {
            dir: config.rules_dir.clone(),
            errors,
        })?;
        let (audit, audit_task) = match &config.audit {
            Some(audit_config) => {
                if let Some(dir) = audit_config
                    .path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    let _ = std::fs::create_dir_all(dir);
                }
                let (handle, task) = AuditWriter::start(audit_config.clone())?;
                (Some(handle), Some(task))
            }
            None => (None, None),
        };
        let certs = ServerConfigCache::new(LeafIssuer::new(ca)?, config.cert_cache_capacity);
        let roots = upstream_roots(&config.upstream_ca)?;
        let upstream = Upstream::new(roots, &config.resolve, &config.limits)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let admin = match config.admin_listen {
            Some(addr) => {
                let tokens = AdminTokens::load(&config)
                    .await
                    .map_err(crate::admin::AdminError::from)?;
                Some((crate::admin::bind(addr).await?, tokens))
            }
            None => None,
        };
        upstream.connector().add_own_address(addr);
        if let Some(admin_addr) = admin.as_ref().and_then(|(l, _)| l.local_addr().ok()) {
            upstream.connector().add_own_address(admin_addr);
        }
        let metrics = Arc::new(Metrics::default());
        let stop_now = CancellationToken::new();
        let shared = Arc::new(Shared {
            active,
            recorder: Arc::new(Recorder::new(
                audit.clone(),
                metrics.clone(),
                stop_now.clone(),
            )),
            audit,
            metrics,
            counters: Box::new(MemoryCounters::default()),
            approvals: Approvals::default(),
            pinned: config.resolve.iter().map(|r| r.target.clone()).collect(),
            tunnel_h1: tunnel_builder(&config, false),
            tunnel_h2: tunnel_builder(&config, true),
            outer: outer_builder(&config),
            certs,
            upstream,
            shutdown: CancellationToken::new(),
            stop_now,
            tasks: TaskTracker::new(),
            config,
        });
        Ok(Self {
            shared,
            listener,
            admin,
            addr,
            ca_path,
            audit_task,
        })
    }

    /// The address agents connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin API's address, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The file holding the generated admin token, when no token was configured.
    pub fn admin_token_file(&self) -> Option<&Path> {
        self.admin.as_ref().and_then(|(_, t)| t.generated_path())
    }

    /// The CA certificate agents must trust.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// Cancel this to stop the proxy gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// The shared state (for inspection: cache statistics, configuration).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts until shutdown, then stops in order: waits up to the grace period for
    /// in-flight exchanges, closes the connections still open (their exchanges' guards
    /// record them), then closes the audit trail and waits until every entry is written and
    /// synced. Only then does it return.
    pub async fn run(self) {
        let shared = self.shared;
        if let Some((listener, tokens)) = self.admin {
            tokio::spawn(crate::admin::serve(shared.clone(), listener, tokens));
        }
        if shared.rules().dir().exists() {
            tokio::spawn(crate::reload::watch(shared.clone()));
        }
        listener::accept_loop(shared.clone(), self.listener).await;
        drain(&shared).await;
        if let Some(audit) = shared.audit.clone() {
            audit.close().await;
        }
        if let Some(task) = self.audit_task
            && let Err(error) = task.await
        {
            tracing::error!(%error, "audit writer task failed");
        }
    }

    /// Runs the proxy on a task.
    pub fn spawn(self) -> RunningProxy {
        let addr = self.addr;
        let admin = self.admin_addr();
        let shared = self.shared.clone();
        let handle = tokio::spawn(self.run());
        RunningProxy {
            addr,
            admin,
            shared,
            handle,
        }
    }
}

/// A proxy running on a task.
pub struct RunningProxy {
    addr: SocketAddr,
    admin: Option<SocketAddr>,
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
}

impl RunningProxy {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The admin API's address, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// Stops accepting and waits for the drain to finish and every audit entry to be
    /// written and synced.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        let _ = self.handle.await;
    }
}
