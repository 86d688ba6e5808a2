//! Exchange tests: the guard records an exchange dropped before its closing step once, with
//! where it was and who ended it; the closing step disarms it.

use super::*;

use std::sync::atomic::AtomicBool;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit::handle::Command;
use crate::audit::{AuditEntry, AuditHandle, Decision as AuditDecision};
use crate::metrics::Metrics;
use crate::policy::{RuleId, Verdict};

/// An exchange whose records land in the returned channel.
fn exchange(stopped: &CancellationToken) -> (Exchange, mpsc::Receiver<Command>, Arc<Metrics>) {
    let (tx, rx) = mpsc::channel(16);
    let audit = AuditHandle::new(tx, Arc::new(AtomicBool::new(true)));
    let metrics = Arc::new(Metrics::default());
    let recorder = Arc::new(Recorder::new(Some(audit), metrics.clone(), stopped.clone()));
    let conn = Arc::new(ConnInfo {
        client: "127.0.0.1:5000".parse().unwrap(),
        target: Target::parse_authority("api.example.com:443").unwrap(),
        scheme: Scheme::Https,
        sni_mismatch: None,
        activity: Activity::new(),
        agent: None,
        pause: crate::control::pause::PauseWatch::default(),
    });
    let uri: http::Uri = "/transfer".parse().unwrap();
    let mut x = Exchange::start(conn, Method::POST, &uri, recorder);
    let mut decision = crate::policy::Decision::deny("held");
    decision.verdict = Verdict::Approve;
    decision.rule = Some(RuleId::new("transfer"));
    x.decision = Some(decision);
    (x, rx, metrics)
}

fn entries(rx: &mut mpsc::Receiver<Command>) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            Command::Entry(e) => out.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[test]
fn an_exchange_dropped_while_held_records_once_where_it_was() {
    let stopped = CancellationToken::new();
    let (mut x, mut rx, metrics) = exchange(&stopped);
    x.enter(Stage::Held);
    drop(x);
    let all = entries(&mut rx);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].decision, AuditDecision::Error);
    assert_eq!(all[0].rule.as_ref().map(|r| r.as_str()), Some("transfer"));
    let reason = all[0].reason.as_deref().unwrap();
    assert!(
        reason.starts_with("client went away while the request was held for approval"),
        "{reason}"
    );
    assert!(
        metrics
            .render()
            .contains(r#"keyward_requests_total{decision="error",rule="transfer",agent=""} 1"#),
        "{}",
        metrics.render()
    );
}

#[test]
fn waiting_upstream_keeps_the_decision_and_says_who_ended_it() {
    let stopped = CancellationToken::new();
    let (mut x, mut rx, _) = exchange(&stopped);
    x.enter(Stage::Upstream);
    stopped.cancel();
    drop(x);
    let all = entries(&mut rx);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].decision, AuditDecision::Allow, "it was forwarded");
    assert_eq!(
        all[0].reason.as_deref(),
        Some(
            "keyward stopped (shutdown grace period over) while waiting for the upstream's \
             response"
        )
    );
}

#[test]
fn the_closing_step_disarms_the_guard() {
    let stopped = CancellationToken::new();
    let (mut x, mut rx, _) = exchange(&stopped);
    x.set_outcome(Outcome::Refused(Refusal::Denied {
        rule: Some("transfer".into()),
        reason: crate::control::approvals::NotApproved::Denied { reason: None }.into(),
    }));
    x.finish();
    let all = entries(&mut rx);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].decision, AuditDecision::Deny);
}

#[test]
fn query_values_are_redacted_names_kept() {
    assert_eq!(
        redact_query("token=abc&flag&x="),
        "token=[redacted]&flag&x=[redacted]"
    );
}
