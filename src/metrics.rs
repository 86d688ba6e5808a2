//! Prometheus metrics: requests by decision, rule and agent, latency, upstream errors, leaf
//! certificates minted, pending approvals, rule reloads, LLM tokens, learn mode. Rendered as text by the admin API.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::audit::Decision;
use crate::policy::{AgentId, RuleId};

/// The labels of an exchange: built for every exchange without copying a name (a rule id
/// and an agent name are shared; no rule or agent is the empty label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    decision: &'static str,
    rule: Option<RuleId>,
    agent: Option<AgentId>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    /// `input` or `output`.
    direction: &'static str,
    rule: Option<RuleId>,
    agent: Option<AgentId>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabel {
    decision: &'static str,
}

impl EncodeLabelValue for RuleId {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

impl EncodeLabelValue for AgentId {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

/// Every metric keyward exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<DecisionLabel, Histogram>,
    upstream_errors: Family<KindLabel, Counter>,
    cert_mints: Counter<u64, AtomicU64>,
    handshakes: Counter<u64, AtomicU64>,
    pending_approvals: Gauge,
    reloads: Family<ResultLabel, Counter>,
    /// LLM tokens responses reported, by direction, rule and agent.
    tokens: Family<TokenLabels, Counter>,
    /// 1 while keyward runs in learn mode, so a dashboard shows it is not enforcing.
    learn_mode: Gauge,
    /// Exchanges learn mode forwarded that the rules would have denied or held, by the
    /// would-be decision.
    learn_let_through: Family<DecisionLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keyward");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Exchanges by decision, rule and agent",
            requests.clone(),
        );
        let duration = Family::<DecisionLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "request_duration_seconds",
            "Time from request head to the end of the response",
            duration.clone(),
        );
        let upstream_errors = Family::<KindLabel, Counter>::default();
        registry.register(
            "upstream_errors",
            "Upstream failures by kind",
            upstream_errors.clone(),
        );
        let cert_mints = Counter::default();
        registry.register(
            "leaf_certificates_minted",
            "Leaf certificates minted (cache misses)",
            cert_mints.clone(),
        );
        let handshakes = Counter::default();
        registry.register(
            "agent_tls_handshakes",
            "TLS handshakes with agents (cache lookups)",
            handshakes.clone(),
        );
        let pending_approvals = Gauge::default();
        registry.register(
            "pending_approvals",
            "Requests held for a person",
            pending_approvals.clone(),
        );
        let reloads = Family::<ResultLabel, Counter>::default();
        registry.register("rule_reloads", "Rule reloads by result", reloads.clone());
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "llm_tokens",
            "LLM tokens responses reported, by direction (input, output), rule and agent",
            tokens.clone(),
        );
        let learn_mode = Gauge::default();
        registry.register(
            "learn_mode",
            "1 when keyward runs with --learn (would-be denials are forwarded)",
            learn_mode.clone(),
        );
        let learn_let_through = Family::<DecisionLabel, Counter>::default();
        registry.register(
            "learn_let_through",
            "Exchanges learn mode forwarded that the rules would deny or hold, by would-be decision",
            learn_let_through.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            upstream_errors,
            cert_mints,
            handshakes,
            pending_approvals,
            reloads,
            tokens,
            learn_mode,
            learn_let_through,
        }
    }

    /// Marks keyward as running in learn mode.
    pub fn set_learn_mode(&self, on: bool) {
        self.learn_mode.set(i64::from(on));
    }

    /// How many exchanges `rule` decided `decision` on, summed over `agents` (`""` for
    /// exchanges of no declared agent) since the process started.
    pub fn rule_count(&self, rule: &RuleId, decision: Decision, agents: &[Option<AgentId>]) -> u64 {
        agents
            .iter()
            .filter_map(|agent| {
                self.requests
                    .get(&RequestLabels {
                        decision: decision.as_str(),
                        rule: Some(rule.clone()),
                        agent: agent.clone(),
                    })
                    .map(|c| c.get())
            })
            .sum()
    }

    /// One exchange learn mode forwarded that the rules would have decided `would` on.
    pub fn learn_let_through(&self, would: Decision) {
        self.learn_let_through
            .get_or_create(&DecisionLabel {
                decision: would.as_str(),
            })
            .inc();
    }

    /// The LLM tokens one exchange's response reported.
    pub fn tokens(&self, rule: Option<&RuleId>, agent: Option<&AgentId>, input: u64, output: u64) {
        for (direction, n) in [("input", input), ("output", output)] {
            self.tokens
                .get_or_create(&TokenLabels {
                    direction,
                    rule: rule.cloned(),
                    agent: agent.cloned(),
                })
                .inc_by(n);
        }
    }

    /// One finished exchange.
    pub fn exchange(
        &self,
        decision: Decision,
        rule: Option<&RuleId>,
        agent: Option<&AgentId>,
        seconds: f64,
    ) {
        let decision = decision.as_str();
        self.requests
            .get_or_create(&RequestLabels {
                decision,
                rule: rule.cloned(),
                agent: agent.cloned(),
            })
            .inc();
        self.duration
            .get_or_create(&DecisionLabel { decision })
            .observe(seconds);
    }

    pub fn upstream_error(&self, kind: &str) {
        self.upstream_errors
            .get_or_create(&KindLabel {
                kind: kind.to_owned(),
            })
            .inc();
    }

    pub fn handshake(&self, minted: bool) {
        self.handshakes.inc();
        if minted {
            self.cert_mints.inc();
        }
    }

    pub fn set_pending_approvals(&self, n: usize) {
        self.pending_approvals.set(n as i64);
    }

    pub fn rule_reloads(&self, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reloads
            .get_or_create(&ResultLabel {
                result: result.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
