//! The DNS of a jailed agent: every datagram the jail sends to port 53 reaches this
//! responder. A name some rule admits resolves to keyward's own address in the jail (its
//! TCP connection reaches keyward whatever the address); any other name gets NXDOMAIN, so a
//! name carrying data goes nowhere. Every query is recorded, answered or not.
//!
//! | file | job |
//! | --- | --- |
//! | `question` | reading a datagram: the one question, or the typed cause it is not answered |
//! | `reply` | the reply datagrams, and the response code each cause gets |

mod question;
mod reply;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::rr::RecordType;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::audit::Decision as AuditDecision;
use crate::control::rules_in_force::RulesInForce;
use crate::pipeline::record::{DnsQuery, Recorder, dns_entry};
use crate::policy::AgentId;

use question::{QueryError, Question, type_name};
use reply::Answer;

/// The receive buffer: larger than any query a resolver sends (EDNS clients announce at
/// most 4096 bytes); a longer datagram is cut and then fails to parse.
const DATAGRAM_BUFFER: usize = 4096;

/// Answers the DNS queries of one jail from the rules in force.
pub struct Responder {
    /// Read on every query, so a reload changes the next answer.
    rules: Arc<RulesInForce>,
    /// Where every query's entry goes.
    recorder: Arc<Recorder>,
    /// The agent the jail runs: agent-scoped rules admit their hosts for it alone.
    agent: Option<AgentId>,
    /// The address every admitted name resolves to: keyward's address inside the jail.
    answer: Ipv4Addr,
    /// Learn mode: a name no rule admits is answered too (its requests are then learned).
    learn: bool,
}

/// What a query came to: its reply and its record.
struct Outcome {
    /// The datagram to send back; `None` when no reply is sent.
    reply: Option<Vec<u8>>,
    /// The queried name (ASCII form), `-` when unreadable.
    name: String,
    /// The query type, `-` when unreadable.
    qtype: String,
    /// `allow` when answered with the address.
    decision: AuditDecision,
    /// Why, ending with the response code.
    reason: String,
}

impl Responder {
    /// `answer`: the address every admitted name resolves to (keyward's address inside the jail).
    pub fn new(
        rules: Arc<RulesInForce>,
        recorder: Arc<Recorder>,
        agent: Option<AgentId>,
        answer: Ipv4Addr,
    ) -> Self {
        Self {
            rules,
            recorder,
            agent,
            answer,
            learn: false,
        }
    }

    /// In learn mode, names no rule admits resolve too.
    pub fn learning(mut self, learn: bool) -> Self {
        self.learn = learn;
        self
    }

    /// The reply datagram to send back for `query` from `client`, if any; records the query.
    pub fn respond(&self, query: &[u8], client: SocketAddr) -> Option<Vec<u8>> {
        let started = Instant::now();
        let outcome = match question::read(query) {
            Ok(question) => self.resolve(&question),
            Err(error) => refuse(&error),
        };
        self.recorder.write(dns_entry(DnsQuery {
            client,
            agent: self.agent.as_ref(),
            qtype: &outcome.qtype,
            name: &outcome.name,
            decision: outcome.decision,
            reason: outcome.reason,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        }));
        outcome.reply
    }

    /// The answer to a well-formed question, from the rules in force now.
    fn resolve(&self, question: &Question) -> Outcome {
        let qtype = question.query.query_type();
        let (answer, reason) = self.decide(&question.name, qtype);
        let mut outcome = Outcome {
            reply: None,
            name: question.name.clone(),
            qtype: type_name(qtype),
            decision: match answer {
                Answer::Address(_) => AuditDecision::Allow,
                Answer::NoData | Answer::NxDomain | Answer::ServFail => AuditDecision::Deny,
            },
            reason,
        };
        match reply::answer(question, answer) {
            Ok(bytes) => outcome.reply = Some(bytes),
            Err(error) => unencodable(&mut outcome, &error),
        }
        outcome
    }

    /// What `name` gets for `qtype`, and why (the reason ends with what the client sees).
    fn decide(&self, name: &str, qtype: RecordType) -> (Answer, String) {
        if !self.recorder.audit_healthy() || self.recorder.audit_backlogged() {
            let why = format!("the audit log cannot take the record of {name} now: SERVFAIL");
            return (Answer::ServFail, why);
        }
        let rules = self.rules.current();
        let host = name.to_ascii_lowercase();
        let admitted = rules.rules.admits_host(&host, self.agent.as_ref());
        if !admitted && !self.learn {
            return (Answer::NxDomain, format!("no rule admits {name}: NXDOMAIN"));
        }
        let admits = if admitted {
            format!("a rule admits {name}")
        } else {
            format!("learn mode: no rule admits {name}")
        };
        if qtype == RecordType::A {
            let why = format!("{admits}: A {}", self.answer);
            return (Answer::Address(self.answer), why);
        }
        let why = format!(
            "{admits}, but only A is answered (connections reach keyward over \
             IPv4), not {}: NODATA",
            type_name(qtype)
        );
        (Answer::NoData, why)
    }
}

/// What a query that cannot be answered comes to: an error reply when its header could be
/// read (FORMERR, NOTIMP, REFUSED), none otherwise.
fn refuse(error: &QueryError) -> Outcome {
    let (name, qtype) = error
        .asked()
        .map_or(("-".to_owned(), "-".to_owned()), |(name, qtype)| {
            (name.to_owned(), type_name(qtype))
        });
    let reason = match reply::error_code(error) {
        Some(code) => format!("{error}: {}", reply::mnemonic(code)),
        None => format!("{error}: no reply"),
    };
    let mut outcome = Outcome {
        reply: None,
        name,
        qtype,
        decision: AuditDecision::Deny,
        reason,
    };
    match reply::error(error) {
        Some(Ok(bytes)) => outcome.reply = Some(bytes),
        Some(Err(error)) => unencodable(&mut outcome, &error),
        None => {}
    }
    outcome
}

/// A reply hickory could not encode: nothing is sent, and the record says so.
fn unencodable(outcome: &mut Outcome, error: &hickory_proto::ProtoError) {
    tracing::warn!(%error, name = %outcome.name, "DNS reply could not be encoded; none sent");
    outcome.decision = AuditDecision::Deny;
    outcome.reason = format!(
        "{}; the reply could not be encoded ({error}): no reply",
        outcome.reason
    );
}

/// Answers queries on `socket` until `shutdown` is cancelled, one datagram at a time.
pub async fn serve(socket: UdpSocket, responder: Arc<Responder>, shutdown: CancellationToken) {
    let mut buffer = vec![0u8; DATAGRAM_BUFFER];
    loop {
        let received = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (len, client) = match received {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "DNS socket receive failed");
                continue;
            }
        };
        let Some(query) = buffer.get(..len) else {
            continue;
        };
        let Some(reply) = responder.respond(query, client) else {
            continue;
        };
        if let Err(error) = socket.send_to(&reply, client).await {
            tracing::debug!(%error, %client, "DNS reply not sent");
        }
    }
}
