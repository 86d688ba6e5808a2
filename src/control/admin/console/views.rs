//! What the console's page reads: the state (pending approvals with their rule's
//! description and time left, the agents and their pauses, per-rule counters) and the feed
//! of recent decisions from the audit log, filtered by agent, rule and decision.

use std::str::FromStr;

use http::{Response, StatusCode};
use serde::Serialize;

use super::super::{AdminState, agents, json};
use super::sessions::Session;
use crate::audit::decision::{Decision, Mode};
use crate::audit::entry::AuditEntry;
use crate::audit::recent::recent;
use crate::audit::tail::TailFilter;
use crate::body::ProxyBody;
use crate::control::approvals::PendingInfo;
use crate::policy::{AgentId, RuleId};

/// Most entries the feed returns.
const MAX_FEED: usize = 500;
/// Entries the feed returns unless asked for fewer.
const DEFAULT_FEED: usize = 100;

/// A held request as the page shows it.
#[derive(Serialize)]
struct Pending {
    #[serde(flatten)]
    info: PendingInfo,
    /// The holding rule's `description:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Seconds until it is denied as timed out.
    times_out_in_secs: u64,
}

/// A rule's decisions since start.
#[derive(Serialize)]
struct RuleCounts {
    rule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    counts: serde_json::Map<String, serde_json::Value>,
}

/// `GET /console/api/state`.
pub(super) async fn state(shared: &AdminState, session: &Session) -> Response<ProxyBody> {
    let in_force = shared.rules.current();
    let description = |rule: &str| {
        let rule = in_force.rules.rule(&RuleId::new(rule))?;
        rule.description().map(str::to_owned)
    };
    let (pending, pending_error) = match shared.approvals.list().await {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let pending: Vec<Pending> = pending
        .into_iter()
        .map(|info| Pending {
            description: description(&info.rule),
            times_out_in_secs: info.timeout_secs.saturating_sub(info.waiting_secs),
            info,
        })
        .collect();
    let mut agent_names: Vec<Option<AgentId>> =
        in_force.agents.names().cloned().map(Some).collect();
    agent_names.push(None);
    let rules: Vec<RuleCounts> = in_force
        .rules
        .rules()
        .iter()
        .map(|r| RuleCounts {
            rule: r.id().as_str().to_owned(),
            description: r.description().map(str::to_owned),
            counts: Decision::ALL
                .iter()
                .map(|d| {
                    let n = shared.metrics.rule_count(r.id(), *d, &agent_names);
                    (d.as_str().to_owned(), n.into())
                })
                .collect(),
        })
        .collect();
    json(
        StatusCode::OK,
        &serde_json::json!({
            "who": session.name,
            "csrf": session.csrf,
            "pending": pending,
            "pending_error": pending_error,
            "agents": agents::snapshot(shared),
            "rules": rules,
        }),
    )
}

/// One decision as the feed shows it.
#[derive(Serialize)]
struct FeedEntry {
    time: String,
    request_id: String,
    agent: Option<String>,
    decision: Decision,
    mode: Mode,
    method: String,
    url: String,
    status: Option<u16>,
    rule: Option<String>,
    reason: Option<String>,
    /// Who answered a held request, and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_tool: Option<String>,
}

impl From<AuditEntry> for FeedEntry {
    fn from(e: AuditEntry) -> Self {
        let query = e.query.map(|q| format!("?{q}")).unwrap_or_default();
        let url = if e.host == "-" {
            // keyward's own entry (a pause or resume through the admin API): its path.
            e.path.clone()
        } else if e.path.is_empty() {
            // A tunnel (CONNECT) or a connection: its authority.
            format!("{}:{}", e.host, e.port)
        } else {
            format!("{}://{}:{}{}{query}", e.scheme, e.host, e.port, e.path)
        };
        FeedEntry {
            url,
            time: e.time,
            request_id: e.request_id,
            agent: e.agent.map(|a| a.as_str().to_owned()),
            decision: e.decision,
            mode: e.mode,
            method: e.method,
            status: e.status,
            rule: e.rule.map(|r| r.as_str().to_owned()),
            reason: e.reason,
            approved_by: e.approval.and_then(|a| a.by),
            mcp_tool: e.mcp_tool,
        }
    }
}

/// `GET /console/api/decisions?agent=&rule=&decision=&limit=`: the newest decisions first.
pub(super) async fn decisions(shared: &AdminState, query: Option<&str>) -> Response<ProxyBody> {
    let mut filter = TailFilter::default();
    let mut limit = DEFAULT_FEED;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if value.is_empty() {
            continue;
        }
        match key.as_ref() {
            "agent" => filter.agent = Some(value.into_owned()),
            "rule" => filter.rule = Some(value.into_owned()),
            "decision" => match Decision::from_str(&value) {
                Ok(d) => filter.decision = Some(d),
                Err(e) => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": e.to_string()}),
                    );
                }
            },
            "limit" => match value.parse::<usize>() {
                Ok(n) => limit = n.clamp(1, MAX_FEED),
                Err(_) => {
                    return json(
                        StatusCode::BAD_REQUEST,
                        &serde_json::json!({"error": "limit must be a number"}),
                    );
                }
            },
            other => {
                return json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"error": format!("unknown filter {other:?}")}),
                );
            }
        }
    }
    let Some(path) = shared.console.audit_log.clone() else {
        return json(
            StatusCode::OK,
            &serde_json::json!({"entries": [], "audit_log": false}),
        );
    };
    let read = tokio::task::spawn_blocking(move || recent(&path, &filter, limit)).await;
    match read {
        Ok(Ok(entries)) => {
            let entries: Vec<FeedEntry> = entries.into_iter().map(FeedEntry::from).collect();
            json(
                StatusCode::OK,
                &serde_json::json!({"entries": entries, "audit_log": true}),
            )
        }
        Ok(Err(e)) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": format!("cannot read the audit log: {e}")}),
        ),
        Err(_) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": "cannot read the audit log"}),
        ),
    }
}
