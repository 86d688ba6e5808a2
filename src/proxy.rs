//! A keyward proxy instance, assembled from a [`Config`]: the CA and leaf cache, the rules
//! in force, the audit trail, the upstream client; each layer ([`server`](crate::server),
//! [`ingress`](crate::ingress), [`pipeline`](crate::pipeline), the admin API) is given the
//! handles it uses. Binds the listeners (or takes sockets bound elsewhere, [`Listeners`]),
//! runs ([`serving`]), and stops in order.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::actions::handoff::Handoff;
use crate::actions::listener::ActionsServer;
use crate::audit::{AuditError, AuditWriter};
use crate::ca::{CertificateAuthority, LeafIssuer, ServerConfigCache};
use crate::config::Config;
use crate::control::admin::tokens::AdminTokens;
use crate::control::approvals::Approvals;
use crate::control::pause::Pauses;
use crate::control::rate_limits::Counters;
use crate::control::reload::Reloader;
use crate::control::rules_in_force::RulesInForce;
use crate::control::shared_state::SharedState;
use crate::control::shared_state::approvals::RedisApprovals;
use crate::control::shared_state::counters::RedisCounters;
use crate::ingress::{Ingress, IngressParts};
use crate::metrics::Metrics;
use crate::pipeline::record::Recorder;
use crate::pipeline::{Pipeline, PipelineParts};
use crate::server::Lifecycle;
use crate::server::workers;
use crate::upstream::{Upstream, upstream_roots};

mod actions;
mod listeners;
mod pause_record;
mod running;
mod serving;
mod start_error;

pub use listeners::{DnsSockets, Listeners};
pub use running::{Handles, RunningProxy};
pub use start_error::StartError;

/// A bound, not yet running proxy.
pub struct Proxy {
    handles: Handles,
    /// The configuration it was built from (for the banner).
    config: Config,
    listener: TcpListener,
    /// Where redirected connections arrive (served by [`transparent`]).
    transparent: Vec<TcpListener>,
    /// Their addresses, in the same order.
    transparent_addrs: Vec<SocketAddr>,
    /// DNS sockets and the responder answering them.
    dns: Option<(
        Vec<tokio::net::UdpSocket>,
        Arc<crate::ingress::dns::Responder>,
    )>,
    /// One for each serving thread.
    ingresses: Vec<Arc<Ingress>>,
    /// The admin listener and the tokens it accepts, when the admin API is on.
    admin: Option<(TcpListener, AdminTokens)>,
    /// The actions listener and what it serves, when `actions_listen` is set.
    actions: Option<(TcpListener, ActionsServer)>,
    addr: SocketAddr,
    ca_path: PathBuf,
    /// The audit writer's task, awaited at the end of [`Proxy::run`] so every entry is
    /// written and synced before the proxy returns.
    audit_task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Loads (or creates) the CA, builds the upstream client, binds the listen address and
    /// the transparent listeners.
    pub async fn bind(config: Config) -> Result<Self, StartError> {
        Self::bind_with(config, Listeners::default()).await
    }

    /// As [`Proxy::bind`], serving `listeners` (bound elsewhere) too: the proxy protocol on
    /// `listeners.proxy` instead of `config.listen`, and every transparent listener.
    pub async fn bind_with(config: Config, mut listeners: Listeners) -> Result<Self, StartError> {
        let ca = Arc::new(CertificateAuthority::load_or_create(&config.ca_dir)?);
        let ca_path = ca.cert_path().to_path_buf();
        let ca_der = ca.cert_der().clone();
        let rules = RulesInForce::load(
            &config.rules_dir,
            config.allow.clone(),
            ca.placeholder_seed(),
        )
        .map_err(|errors| StartError::Rules {
            dir: config.rules_dir.clone(),
            errors,
        })?;
        // Redirected connections carry no credentials: with agents declared they must be
        // attributed to one, named and declared (fail closed before anything starts).
        let redirected = !config.transparent_listen.is_empty()
            || !listeners.transparent.is_empty()
            || listeners.dns.is_some();
        let transparent_agent = if redirected {
            rules
                .current()
                .agents
                .transparent_agent(config.transparent_agent.as_deref())?
        } else {
            None
        };
        let (audit, audit_task) = match &config.audit {
            Some(audit_config) => {
                if let Some(dir) = audit_config
                    .path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    let _ = std::fs::create_dir_all(dir);
                }
                let signer = match &audit_config.checkpoints {
                    Some(c) => Some(c.load_signer().await.map_err(AuditError::from)?),
                    None => None,
                };
                let (handle, task) = AuditWriter::start_signed(audit_config.clone(), signer)?;
                (Some(handle), Some(task))
            }
            None => (None, None),
        };
        let certs = ServerConfigCache::new(LeafIssuer::new(ca)?, config.cert_cache_capacity);
        let roots = upstream_roots(&config.upstream_ca)?;
        let upstream = Upstream::new(roots, &config.resolve, &config.limits)?;
        rules.set_token_client(upstream.clone());
        let dns_sockets = listeners.dns.take();
        let (listener, transparent) = listeners::bind(&config, listeners).await?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let transparent_addrs = transparent
            .iter()
            .map(TcpListener::local_addr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartError::Listener)?;
        let admin = match config.admin_listen {
            Some(addr) => {
                let tokens = AdminTokens::load(&config)
                    .await
                    .map_err(crate::control::admin::AdminError::from)?;
                Some((crate::control::admin::bind(addr).await?, tokens))
            }
            None => None,
        };
        upstream.connector().add_own_address(addr);
        for own in &transparent_addrs {
            upstream.connector().add_own_address(*own);
        }
        if let Some(admin_addr) = admin.as_ref().and_then(|(l, _)| l.local_addr().ok()) {
            upstream.connector().add_own_address(admin_addr);
        }
        let metrics = Arc::new(Metrics::default());
        if config.learn {
            metrics.set_learn_mode(true);
            tracing::warn!(
                "learn mode: requests the rules would deny or hold are FORWARDED and recorded \
                 as would-be decisions; keyward's own guards still refuse. Not for production"
            );
        }
        let lifecycle = Lifecycle::new();
        let rules = Arc::new(rules);
        let handoff = Arc::new(Handoff::new());
        let recorder = Arc::new(Recorder::new(
            audit,
            metrics.clone(),
            lifecycle.stop_now().clone(),
        ));
        let actions = match config.actions_listen {
            Some(at) => {
                let serving = actions::Serving {
                    proxy: addr,
                    ca_der,
                    rules: rules.clone(),
                    handoff: handoff.clone(),
                    recorder: recorder.clone(),
                };
                Some(actions::bind(at, &upstream, serving).await?)
            }
            None => None,
        };
        let state = match &config.state {
            Some(state) => Some(SharedState::open(state).await?),
            None => None,
        };
        let (approvals, counters) = match &state {
            Some(state) => (
                Approvals::shared(RedisApprovals::new(state.clone())),
                Counters::Redis(RedisCounters::new(state.clone())),
            ),
            None => (Approvals::default(), Counters::default()),
        };
        let (approvals, counters) = (Arc::new(approvals), Arc::new(counters));
        let certs = Arc::new(certs);
        let legacy_streams = Arc::new(crate::pipeline::LegacyStreams::default());
        let pauses = Arc::new(Pauses::default());
        // One ingress per serving thread, each with upstream pools of its own; the rest is
        // shared.
        let ingresses: Vec<Arc<Ingress>> = (0..workers::count(config.workers))
            .map(|i| {
                let pipeline = Arc::new(Pipeline::new(PipelineParts {
                    rules: rules.clone(),
                    recorder: recorder.clone(),
                    upstream: if i == 0 {
                        upstream.clone()
                    } else {
                        upstream.with_own_pools()
                    },
                    approvals: approvals.clone(),
                    counters: counters.clone(),
                    legacy_streams: legacy_streams.clone(),
                    metrics: metrics.clone(),
                    lifecycle: lifecycle.clone(),
                    read_timeout: config.limits.header_read_timeout,
                    idle_timeout: config.limits.idle_timeout,
                    handoff: handoff.clone(),
                    learn: config.learn,
                    pauses: pauses.clone(),
                }));
                Arc::new(Ingress::new(
                    &config,
                    IngressParts {
                        pipeline,
                        rules: rules.clone(),
                        recorder: recorder.clone(),
                        certs: certs.clone(),
                        metrics: metrics.clone(),
                        lifecycle: lifecycle.clone(),
                        pauses: pauses.clone(),
                    },
                ))
            })
            .collect();
        let handles = Handles {
            reloader: Reloader::new(rules.clone(), metrics.clone()),
            rules,
            recorder,
            approvals,
            state,
            metrics: metrics.clone(),
            certs,
            lifecycle,
            pauses,
        };
        let dns = dns_sockets
            .map(|dns| listeners::serve_dns(dns, &handles, transparent_agent, config.learn))
            .transpose()?;
        Ok(Self {
            handles,
            config,
            listener,
            transparent,
            transparent_addrs,
            dns,
            ingresses,
            admin,
            actions,
            addr,
            ca_path,
            audit_task,
        })
    }

    /// The address agents connect to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The transparent listeners' addresses (where redirected connections arrive).
    pub fn transparent_addrs(&self) -> Vec<SocketAddr> {
        self.transparent_addrs.clone()
    }

    /// The admin API's address, when it is on.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The actions listener's address, when actions are served.
    pub fn actions_addr(&self) -> Option<SocketAddr> {
        self.actions.as_ref().and_then(|(l, _)| l.local_addr().ok())
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
        self.handles.lifecycle.shutdown().clone()
    }

    /// What stays reachable once it runs.
    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }
}
