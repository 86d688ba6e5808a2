//! `keyward rules suggest`: a draft rule file from recorded traffic. The forwarded requests
//! of an audit log (learn mode's first of all) are grouped into one rule per host, method
//! and path shape ([`shape`]: ids, UUIDs, hashes and tokens become `{name}` captures), with
//! the query parameters, JSON body fields and credential headers seen listed as comments
//! (names only: the log holds no values), and `tests:` drawn from the recorded requests
//! ([`render`]). The draft is compiled and checked before it is returned: its tests pass
//! and every recorded request is allowed by it, or there is no draft.

pub mod render;
pub mod shape;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::audit::{AuditEntry, Decision as AuditDecision};
use crate::policy::compile::Source;
use crate::policy::ruleset::RuleSet;
use crate::policy::sample::SampleRequest;
use crate::policy::{AgentId, RuleId, Verdict};
use render::{Plan, Test};
use shape::Seg;

/// Distinct recorded requests of one drafted rule written as its `tests:`.
const TESTS_PER_RULE: usize = 3;

/// The host a drafted deny test names: no draft allows it (`.invalid` never resolves).
pub const UNSEEN_HOST: &str = "unseen-host.invalid";

/// The path a drafted deny test tries on each host, kept only when the draft denies it.
const UNSEEN_PATH: &str = "/keyward-unseen/path/shape";

/// Which entries a draft is made from, and what its header says about them.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this agent's requests (`--agent`).
    pub agent: Option<String>,
    /// Where the entries came from, for the draft's header.
    pub source: String,
}

/// A checked draft.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The rule file.
    pub yaml: String,
    /// How many rules it has.
    pub rules: usize,
    /// How many recorded requests it was drafted from (and allows).
    pub requests: usize,
}

/// Why no draft was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuggestError {
    /// No forwarded HTTP request in the entries (or none of the agent's).
    #[error("no forwarded request{0} in the audit log to draft rules from")]
    Nothing(String),
    /// The draft does not compile (a bug in drafting: nothing is written).
    #[error("the drafted rules do not compile: {0}")]
    Compile(String),
    /// The draft does not allow a recorded request.
    #[error("the drafted rules do not allow the recorded request {request}: {reason}")]
    NotAllowed { request: String, reason: String },
    /// One of the draft's own tests fails.
    #[error("a drafted test fails: {0}")]
    Tests(String),
}

/// One drafted rule's endpoint and what was seen of it.
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub method: String,
    /// The path pattern's segments.
    pub segs: Vec<Seg>,
    /// The rule's id, unique in the draft.
    pub id: String,
    /// Recorded requests it covers.
    pub count: usize,
    /// Query parameter names seen.
    pub query: BTreeSet<String>,
    /// Top-level JSON body field names seen.
    pub json_fields: BTreeSet<String>,
    /// Credential headers seen (names).
    pub auth: BTreeSet<String>,
    /// Rules in force (or the default deny: `None`) that would have denied these requests.
    pub denied_by: BTreeSet<Option<String>>,
    /// Rules in force that held these requests for approval.
    pub held_by: BTreeSet<String>,
    /// Distinct recorded URLs (no query), the first few of which become tests.
    pub urls: BTreeSet<String>,
}

/// The draft for `entries`: one rule per endpoint, checked against every recorded request.
pub fn draft(entries: &[AuditEntry], filter: &Filter) -> Result<Draft, SuggestError> {
    let mut endpoints: BTreeMap<(String, String, u16, String, Vec<Seg>), Endpoint> =
        BTreeMap::new();
    let mut recorded = Vec::new();
    for e in entries.iter().filter(|e| learnable(e, filter)) {
        let segs = shape::shape(&e.path);
        let key = (
            e.scheme.clone(),
            e.host.clone(),
            e.port,
            e.method.clone(),
            segs.clone(),
        );
        let ep = endpoints.entry(key).or_insert_with(|| Endpoint {
            scheme: e.scheme.clone(),
            host: e.host.clone(),
            port: e.port,
            method: e.method.clone(),
            segs,
            ..Endpoint::default()
        });
        note(ep, e);
        recorded.push(format!(
            "{} {}",
            e.method,
            render::url(&e.scheme, &e.host, e.port, &e.path)
        ));
    }
    if endpoints.is_empty() {
        let whose = filter
            .agent
            .as_ref()
            .map(|a| format!(" of agent {a}"))
            .unwrap_or_default();
        return Err(SuggestError::Nothing(whose));
    }
    let mut endpoints: Vec<Endpoint> = endpoints.into_values().collect();
    name_rules(&mut endpoints);
    let mut plan = Plan::new(filter, &endpoints, recorded.len());
    plan.tests = first_tests(&endpoints);
    plan.deny_tests = deny_candidates(&endpoints);
    // First pass: drop the `rule:` of tests another rule also matches, and the deny tests
    // the draft does not deny; the second pass must then hold as written.
    let rules = compile(&plan.render())?;
    settle(&rules, &mut plan);
    let yaml = plan.render();
    let rules = compile(&yaml)?;
    check(&rules, &recorded)?;
    let report = rules.run_tests();
    if !report.all_passed() {
        return Err(SuggestError::Tests(report.to_string()));
    }
    Ok(Draft {
        yaml,
        rules: endpoints.len(),
        requests: recorded.len(),
    })
}

/// A forwarded HTTP(S) request (of the filter's agent).
fn learnable(e: &AuditEntry, filter: &Filter) -> bool {
    let forwarded = matches!(e.decision, AuditDecision::Allow | AuditDecision::Approve);
    let http = e.scheme == "https" || e.scheme == "http";
    let agent = filter
        .agent
        .as_ref()
        .is_none_or(|a| e.agent.as_ref().map(AgentId::as_str) == Some(a.as_str()));
    forwarded && http && e.method != "CONNECT" && e.path.starts_with('/') && agent
}

/// What `e` adds to its endpoint.
fn note(ep: &mut Endpoint, e: &AuditEntry) {
    ep.count += 1;
    if let Some(query) = &e.query {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n);
            ep.query.insert(name.to_owned());
        }
    }
    if let Some(seen) = &e.observed {
        ep.json_fields.extend(seen.json_fields.iter().cloned());
        ep.auth.extend(seen.auth.iter().cloned());
    }
    if let Some(would) = &e.would {
        let rule = would.rule.as_ref().map(|r| r.as_str().to_owned());
        match would.decision {
            AuditDecision::Deny => {
                ep.denied_by.insert(rule);
            }
            AuditDecision::Approve => {
                ep.held_by.extend(rule);
            }
            _ => {}
        }
    }
    ep.urls
        .insert(render::url(&e.scheme, &e.host, e.port, &e.path));
}

/// Unique rule ids, in endpoint order.
fn name_rules(endpoints: &mut [Endpoint]) {
    let mut taken = BTreeSet::new();
    for ep in endpoints {
        let base = shape::rule_id(&ep.host, &ep.method, &ep.segs);
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        taken.insert(id.clone());
        ep.id = id;
    }
}

/// The first few recorded URLs of each endpoint, expected allowed by its rule.
fn first_tests(endpoints: &[Endpoint]) -> Vec<Test> {
    endpoints
        .iter()
        .flat_map(|ep| {
            ep.urls.iter().take(TESTS_PER_RULE).map(|url| Test {
                request: format!("{} {url}", ep.method),
                expect: Verdict::Allow,
                rule: Some(ep.id.clone()),
            })
        })
        .collect()
}

/// A request to a host no rule names, and one to an unseen path on each host.
fn deny_candidates(endpoints: &[Endpoint]) -> Vec<Test> {
    let deny = |request: String| Test {
        request,
        expect: Verdict::Deny,
        rule: None,
    };
    let hosts: BTreeSet<(String, String, u16)> = endpoints
        .iter()
        .map(|ep| (ep.scheme.clone(), ep.host.clone(), ep.port))
        .collect();
    let mut tests = vec![deny(format!("GET https://{UNSEEN_HOST}/"))];
    tests.extend(hosts.iter().map(|(scheme, host, port)| {
        deny(format!(
            "GET {}",
            render::url(scheme, host, *port, UNSEEN_PATH)
        ))
    }));
    tests
}

/// Keeps each test's `rule:` only when that rule is the one named, and the deny tests
/// only when the draft denies them.
fn settle(rules: &RuleSet, plan: &mut Plan) {
    let decide = |text: &str| {
        SampleRequest::parse(text)
            .ok()
            .map(|r| rules.decide_sample(&r, None))
    };
    for test in &mut plan.tests {
        let named = decide(&test.request).and_then(|d| d.rule);
        if named.as_ref().map(RuleId::as_str) != test.rule.as_deref() {
            test.rule = None;
        }
    }
    plan.deny_tests
        .retain(|t| decide(&t.request).is_some_and(|d| d.verdict == Verdict::Deny));
}

fn compile(yaml: &str) -> Result<RuleSet, SuggestError> {
    let source = Source {
        path: PathBuf::from("draft.yaml"),
        text: yaml.to_owned(),
    };
    RuleSet::compile(&[source]).map_err(|errors| {
        let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        SuggestError::Compile(lines.join("; "))
    })
}

/// Every recorded request is allowed by the draft.
fn check(rules: &RuleSet, recorded: &[String]) -> Result<(), SuggestError> {
    for request in recorded {
        let sample = SampleRequest::parse(request).map_err(|e| SuggestError::NotAllowed {
            request: request.clone(),
            reason: e.to_string(),
        })?;
        let decision = rules.decide_sample(&sample, None);
        if decision.verdict != Verdict::Allow {
            return Err(SuggestError::NotAllowed {
                request: request.clone(),
                reason: decision.reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
