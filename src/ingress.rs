//! From a client socket to requests for the pipeline: the proxy protocol on the proxy port
//! (CONNECT, absolute-form `http://`, 400 otherwise), agent authentication (407), TLS
//! termination of tunnels with SNI pinned to the CONNECT host, connections redirected to a
//! transparent listener (original destination, SNI or Host), the raw-head scan beside
//! hyper, and the records of what never became a request. Also the DNS responder of a
//! jailed agent ([`dns`]).

mod builders;
pub mod client;
pub mod dns;
pub mod head_scan;
pub mod malformed;
pub mod proxy_protocol;
mod rewind;
pub mod transparent;
pub mod tunnel;

use std::collections::HashSet;
use std::sync::Arc;

use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto;

use crate::ca::ServerConfigCache;
use crate::config::{Config, Limits};
use crate::control::pause::Pauses;
use crate::control::rules_in_force::RulesInForce;
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::pipeline::record::Recorder;
use crate::server::Lifecycle;
use crate::target::Target;

/// What serving agents' connections needs, up to the hand-off to the pipeline.
pub struct Ingress {
    /// Where every request goes once its connection is set up.
    pipeline: Arc<Pipeline>,
    /// Agents to authenticate and rules to refuse a CONNECT no rule could allow.
    rules: Arc<RulesInForce>,
    /// Where refusals outside any exchange are recorded.
    recorder: Arc<Recorder>,
    /// Leaf certificates for the hosts agents tunnel to.
    certs: Arc<ServerConfigCache>,
    /// Handshakes (and whether their leaf was minted).
    metrics: Arc<Metrics>,
    /// Targets the operator pinned with `--resolve` (the destination guard does not apply).
    pinned: HashSet<Target>,
    /// Header, read and idle limits.
    limits: Limits,
    /// The agent named for redirected connections (checked against the declared agents on
    /// every connection, so a reload that drops it refuses them).
    transparent_agent: Option<String>,
    /// Learn mode: a CONNECT no rule could allow is let in (its requests are learned).
    learn: bool,
    /// Connection and tunnel tasks, shutdown and the end of the grace period.
    lifecycle: Lifecycle,
    /// Paused agents: their CONNECTs are refused, their connections watch for a pause.
    pauses: Arc<Pauses>,
    /// Serves the proxy protocol on client connections.
    outer: hyper::server::conn::http1::Builder,
    /// Serves decrypted HTTP/1.1 in tunnels.
    tunnel_h1: auto::Builder<TokioExecutor>,
    /// Serves decrypted HTTP/2 in tunnels.
    tunnel_h2: auto::Builder<TokioExecutor>,
}

/// The handles an [`Ingress`] is built from.
pub struct IngressParts {
    pub pipeline: Arc<Pipeline>,
    pub rules: Arc<RulesInForce>,
    pub recorder: Arc<Recorder>,
    pub certs: Arc<ServerConfigCache>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Lifecycle,
    pub pauses: Arc<Pauses>,
}

impl Ingress {
    pub fn new(config: &Config, parts: IngressParts) -> Self {
        Self {
            pipeline: parts.pipeline,
            rules: parts.rules,
            recorder: parts.recorder,
            certs: parts.certs,
            metrics: parts.metrics,
            pinned: config.resolve.iter().map(|r| r.target.clone()).collect(),
            limits: config.limits.clone(),
            transparent_agent: config.transparent_agent.clone(),
            learn: config.learn,
            lifecycle: parts.lifecycle,
            pauses: parts.pauses,
            outer: builders::outer_builder(config),
            tunnel_h1: builders::tunnel_builder(config, false),
            tunnel_h2: builders::tunnel_builder(config, true),
        }
    }

    /// The builder for a tunnel whose agent negotiated `h2` (or not).
    fn tunnel_builder(&self, h2: bool) -> &auto::Builder<TokioExecutor> {
        if h2 { &self.tunnel_h2 } else { &self.tunnel_h1 }
    }

    /// Whether the operator pinned `target` with `--resolve`.
    fn is_pinned(&self, target: &Target) -> bool {
        self.pinned.contains(target)
    }

    /// The most bytes a request head may take, as the raw-head scan counts them.
    fn head_limit(&self) -> usize {
        self.limits.max_header_bytes.max(8192)
    }
}
