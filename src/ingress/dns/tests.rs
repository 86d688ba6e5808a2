//! Responder tests: what each question gets from real rules (the address, NODATA, NXDOMAIN)
//! and the one audit entry every query leaves; malformed and unserved queries in
//! [`malformed`].

mod malformed;

use super::*;

use std::sync::atomic::{AtomicBool, Ordering};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use proptest::prelude::*;
use tokio::sync::mpsc;

use crate::audit::handle::Command;
use crate::audit::{AuditEntry, AuditHandle};
use crate::metrics::Metrics;

/// keyward's address in the jail, as the tests give it.
const KEYWARD: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);

/// Rules of the tests: one host for everyone, one for the agent `bot` alone.
const RULES: &str = "agents:
  bot: { token: env:BOT_TOKEN }
rules:
  - id: api
    url: https://api.example.com/**
    decision: allow
  - id: bots
    agents: [bot]
    url: https://internal.example.com/**
    decision: allow
";

/// A responder on real rules, and the audit channel its entries land in.
struct Rig {
    responder: Responder,
    entries: mpsc::Receiver<Command>,
    /// The audit trail's health flag, to make it fail.
    healthy: Arc<AtomicBool>,
    rules: Arc<RulesInForce>,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new(agent: Option<&str>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.yaml"), RULES).unwrap();
        let rules = Arc::new(RulesInForce::load(dir.path(), Vec::new(), [7; 32]).unwrap());
        let (tx, entries) = mpsc::channel(64);
        let healthy = Arc::new(AtomicBool::new(true));
        let audit = AuditHandle::new(tx, healthy.clone());
        let recorder = Arc::new(Recorder::new(
            Some(audit),
            Arc::new(Metrics::default()),
            CancellationToken::new(),
        ));
        let agent = agent.map(AgentId::new);
        let responder = Responder::new(rules.clone(), recorder, agent, KEYWARD);
        Rig {
            responder,
            entries,
            healthy,
            rules,
            dir,
        }
    }

    /// The reply to `datagram` (parsed), and the one entry it recorded.
    fn ask(&mut self, datagram: &[u8]) -> (Option<Message>, AuditEntry) {
        let reply = self.responder.respond(datagram, client());
        let mut entries = Vec::new();
        while let Ok(command) = self.entries.try_recv() {
            match command {
                Command::Entry(entry) => entries.push(entry),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(entries.len(), 1, "one entry a query: {entries:?}");
        let reply = reply.map(|bytes| Message::from_vec(&bytes).unwrap());
        (reply, entries.remove(0))
    }
}

fn client() -> SocketAddr {
    "10.200.0.2:40000".parse().unwrap()
}

/// A standard query for `name` (kept as spelled) and `qtype`, recursion desired.
fn query_message(name: &str, qtype: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    message
}

fn query(name: &str, qtype: RecordType) -> Vec<u8> {
    query_message(name, qtype).to_vec().unwrap()
}

/// Asserts the entry's fixed fields: scheme `dns`, port 53, empty path, the client.
fn assert_dns_entry(entry: &AuditEntry, method: &str, host: &str) {
    assert_eq!(entry.scheme, "dns");
    assert_eq!(entry.method, method);
    assert_eq!(entry.host, host);
    assert_eq!(entry.port, 53);
    assert_eq!(entry.path, "");
    assert_eq!(entry.client, client().to_string());
    assert!(entry.reason.is_some());
}

fn reason(entry: &AuditEntry) -> &str {
    entry.reason.as_deref().unwrap_or_default()
}

#[test]
fn an_admitted_name_resolves_to_keywards_address() {
    let mut rig = Rig::new(None);
    let asked = query_message("API.Example.com.", RecordType::A);
    let (reply, entry) = rig.ask(&asked.to_vec().unwrap());
    let reply = reply.unwrap();
    assert_eq!(reply.metadata.id, asked.metadata.id);
    assert_eq!(reply.metadata.message_type, MessageType::Response);
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.recursion_desired);
    assert_eq!(
        reply.queries, asked.queries,
        "the question is echoed as asked"
    );
    assert_eq!(reply.answers.len(), 1);
    let record = &reply.answers[0];
    assert_eq!(record.data, RData::A(KEYWARD.into()));
    assert_eq!(record.ttl, reply::ANSWER_TTL);
    assert_eq!(record.name, Name::from_ascii("API.Example.com.").unwrap());
    assert_dns_entry(&entry, "A", "API.Example.com");
    assert_eq!(entry.decision, AuditDecision::Allow);
    assert_eq!(entry.agent, None);
    assert_eq!(
        reason(&entry),
        "a rule admits API.Example.com: A 10.200.0.1"
    );
}

#[test]
fn a_name_no_rule_admits_gets_nxdomain_whatever_its_type() {
    let mut rig = Rig::new(None);
    for (qtype, method) in [(RecordType::A, "A"), (RecordType::TXT, "TXT")] {
        let (reply, entry) = rig.ask(&query("c2VjcmV0.attacker.example.", qtype));
        let reply = reply.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert!(reply.answers.is_empty());
        assert_dns_entry(&entry, method, "c2VjcmV0.attacker.example");
        assert_eq!(entry.decision, AuditDecision::Deny);
        assert_eq!(
            reason(&entry),
            "no rule admits c2VjcmV0.attacker.example: NXDOMAIN"
        );
    }
}

#[test]
fn an_admitted_name_gets_no_answer_for_other_types() {
    let mut rig = Rig::new(None);
    for (qtype, method) in [
        (RecordType::AAAA, "AAAA"),
        (RecordType::TXT, "TXT"),
        (RecordType::MX, "MX"),
        (RecordType::HTTPS, "HTTPS"),
        (RecordType::Unknown(65_280), "TYPE65280"),
    ] {
        let (reply, entry) = rig.ask(&query("api.example.com.", qtype));
        let reply = reply.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty(), "{method}: NODATA");
        assert_dns_entry(&entry, method, "api.example.com");
        assert_eq!(entry.decision, AuditDecision::Deny);
        assert!(reason(&entry).ends_with(": NODATA"), "{}", reason(&entry));
    }
}

#[test]
fn an_agent_scoped_host_resolves_for_its_agent_only() {
    let mut bot = Rig::new(Some("bot"));
    let (reply, entry) = bot.ask(&query("internal.example.com.", RecordType::A));
    assert_eq!(reply.unwrap().answers.len(), 1);
    assert_eq!(
        entry.agent.as_ref().map(crate::policy::AgentId::as_str),
        Some("bot")
    );
    assert_eq!(entry.decision, AuditDecision::Allow);

    let mut anonymous = Rig::new(None);
    let (reply, entry) = anonymous.ask(&query("internal.example.com.", RecordType::A));
    assert_eq!(
        reply.unwrap().metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(entry.decision, AuditDecision::Deny);
}

#[test]
fn a_reload_changes_the_next_answer() {
    let mut rig = Rig::new(None);
    let (reply, _) = rig.ask(&query("new.example.com.", RecordType::A));
    assert_eq!(
        reply.unwrap().metadata.response_code,
        ResponseCode::NXDomain
    );
    let rules = "rules:\n  - id: new\n    url: https://new.example.com/**\n    decision: allow\n";
    std::fs::write(rig.dir.path().join("rules.yaml"), rules).unwrap();
    rig.rules.reload().unwrap();
    let (reply, _) = rig.ask(&query("new.example.com.", RecordType::A));
    assert_eq!(reply.unwrap().answers.len(), 1);
    let (reply, _) = rig.ask(&query("api.example.com.", RecordType::A));
    assert_eq!(
        reply.unwrap().metadata.response_code,
        ResponseCode::NXDomain
    );
}

#[test]
fn a_long_name_is_recorded_whole() {
    let mut rig = Rig::new(None);
    let label = "a".repeat(63);
    let name = format!(
        "{label}.{label}.{label}.{}.attacker.example",
        "B".repeat(44)
    );
    assert_eq!(name.len(), 253, "the longest name DNS carries");
    let (reply, entry) = rig.ask(&query(&format!("{name}."), RecordType::TXT));
    assert_eq!(
        reply.unwrap().metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(entry.host, name);
    assert_eq!(reason(&entry), format!("no rule admits {name}: NXDOMAIN"));
}

#[test]
fn a_name_of_unprintable_bytes_is_recorded_escaped() {
    let mut rig = Rig::new(None);
    let raw: Vec<Vec<u8>> = vec![b"a\x00b.c\xff".to_vec(), b"example".to_vec()];
    let mut message = Message::query();
    message.add_query(Query::query(Name::from_labels(raw).unwrap(), RecordType::A));
    let (reply, entry) = rig.ask(&message.to_vec().unwrap());
    assert_eq!(
        reply.unwrap().metadata.response_code,
        ResponseCode::NXDomain
    );
    assert_eq!(entry.host, "a\\000b\\.c\\377.example");
    assert!(entry.host.bytes().all(|b| b.is_ascii_graphic()));
}

#[test]
fn an_edns_query_gets_an_opt_record_back() {
    let mut rig = Rig::new(None);
    let mut asked = query_message("api.example.com.", RecordType::A);
    asked.set_edns(Edns::new());
    let (reply, _) = rig.ask(&asked.to_vec().unwrap());
    let reply = reply.unwrap();
    assert!(reply.edns.is_some());
    assert_eq!(reply.answers.len(), 1);
    let (reply, _) = rig.ask(&query("api.example.com.", RecordType::A));
    assert!(reply.unwrap().edns.is_none());
}

#[test]
fn while_the_audit_log_fails_an_admitted_name_gets_servfail() {
    let mut rig = Rig::new(None);
    rig.healthy.store(false, Ordering::SeqCst);
    let (reply, entry) = rig.ask(&query("api.example.com.", RecordType::A));
    let reply = reply.unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(reply.answers.is_empty());
    assert_eq!(entry.decision, AuditDecision::Deny);
    assert!(reason(&entry).ends_with(": SERVFAIL"), "{}", reason(&entry));
}

#[test]
fn in_learn_mode_a_name_no_rule_admits_resolves_and_says_so() {
    let mut rig = Rig::new(None);
    rig.responder = Responder::new(
        rig.rules.clone(),
        rig.responder.recorder.clone(),
        None,
        KEYWARD,
    )
    .learning(true);
    let (reply, entry) = rig.ask(&query("new.example.org", RecordType::A));
    assert_eq!(reply.unwrap().answers[0].data, RData::A(KEYWARD.into()));
    assert_eq!(entry.decision, AuditDecision::Allow);
    assert_eq!(
        reason(&entry),
        "learn mode: no rule admits new.example.org: A 10.200.0.1"
    );
    let (reply, entry) = rig.ask(&query("new.example.org", RecordType::AAAA));
    assert!(
        reply.unwrap().answers.is_empty(),
        "only A is answered, as for admitted names"
    );
    assert!(reason(&entry).starts_with("learn mode: no rule admits new.example.org, but only A"));
}
