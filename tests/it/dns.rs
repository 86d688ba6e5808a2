//! The jail's DNS over a real UDP socket: `serve` on 127.0.0.1:0 with a responder on real
//! rules (a rules file and an `--allow` host) and a real audit log, asked by `dig` (or, where
//! dig is not installed, by hickory-proto messages from a std socket). An admitted name
//! resolves to keyward's address, names no rule admits get NXDOMAIN, AAAA gets nothing,
//! malformed datagrams get FORMERR or no reply, and every query is in the audit log.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use keyward::audit::{AuditConfig, AuditHandle, AuditWriter, FsyncPolicy};
use keyward::control::rules_in_force::RulesInForce;
use keyward::ingress::dns::{Responder, serve};
use keyward::metrics::Metrics;
use keyward::pipeline::record::Recorder;

use crate::support::audit_log;

/// The address the responder gives admitted names (keyward's address in a jail).
const ANSWER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 7);
/// How long a client waits for one reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long `serve` may take to end once shut down.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

const RULES: &str = "rules:
  - id: api
    url: https://api.example.com/**
    decision: allow
  - id: hub
    url: https://*.githubusercontent.com/**
    decision: allow
";

/// `serve` running on a loopback socket, and its audit log.
struct Dns {
    addr: SocketAddr,
    /// The `dig` the test asks with; `None`: hickory-proto messages instead.
    dig: Option<String>,
    audit: AuditHandle,
    audit_path: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Dns {
    async fn start() -> Dns {
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir_all(&rules_dir).unwrap();
        std::fs::write(rules_dir.join("rules.yaml"), RULES).unwrap();
        let allows = vec!["pypi.org".parse().unwrap()];
        let rules = Arc::new(RulesInForce::load(&rules_dir, allows, [3; 32]).unwrap());
        let audit_path = dir.path().join("audit.jsonl");
        let mut config = AuditConfig::new(&audit_path);
        config.fsync = FsyncPolicy::Never;
        let (audit, _writer) = AuditWriter::start(config).unwrap();
        let recorder = Arc::new(Recorder::new(
            Some(audit.clone()),
            Arc::new(Metrics::default()),
            CancellationToken::new(),
        ));
        let responder = Arc::new(Responder::new(rules, recorder, None, ANSWER));
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(socket, responder, shutdown.clone()));
        Dns {
            addr,
            dig: dig(),
            audit,
            audit_path,
            shutdown,
            task,
            _dir: dir,
        }
    }

    /// Asks for `name` and `qtype` with dig when installed, else with hickory-proto.
    async fn ask(&self, name: &str, qtype: RecordType) -> Answer {
        let (addr, name, dig) = (self.addr, name.to_owned(), self.dig.clone());
        tokio::task::spawn_blocking(move || match dig {
            Some(dig) => ask_dig(&dig, addr, &name, qtype),
            None => ask_hickory(addr, &name, qtype),
        })
        .await
        .unwrap()
    }

    /// Stops `serve` and waits (bounded) for it to end.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(STOP_TIMEOUT, self.task)
            .await
            .expect("serve ends on shutdown")
            .unwrap();
    }
}

/// What a client learnt from a reply.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    /// The response code as dig prints it (`NOERROR`, `NXDOMAIN`).
    status: String,
    /// The A records' addresses.
    addresses: Vec<Ipv4Addr>,
}

/// `dig`, when it is installed; says why the test asks with hickory-proto otherwise.
fn dig() -> Option<String> {
    let found = Command::new("dig").arg("-v").output();
    match found {
        Ok(out) if out.status.success() => Some("dig".to_owned()),
        Ok(out) => {
            println!(
                "note: `dig -v` failed ({}); asking with hickory-proto",
                out.status
            );
            None
        }
        Err(e) => {
            println!("note: dig not installed ({e}); asking with hickory-proto");
            None
        }
    }
}

/// Asks with `dig @ADDR -p PORT NAME TYPE +tries=1 +time=2`, reading its header and answers.
fn ask_dig(dig: &str, addr: SocketAddr, name: &str, qtype: RecordType) -> Answer {
    let out = Command::new(dig)
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), name, &qtype.to_string()])
        .args(["+tries=1", "+time=2", "+noall", "+comments", "+answer"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dig failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = text
        .lines()
        .find_map(|l| l.split("status: ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no status in dig's output: {text}"))
        .to_owned();
    let addresses = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            match fields.as_slice() {
                [_, _, "IN", "A", ip] => Some(ip.parse().unwrap()),
                _ => None,
            }
        })
        .collect();
    Answer { status, addresses }
}

/// Asks with a hickory-proto query from a std socket with a read timeout.
fn ask_hickory(addr: SocketAddr, name: &str, qtype: RecordType) -> Answer {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let reply = exchange(addr, &query.to_vec().unwrap());
    assert_eq!(reply.metadata.id, query.metadata.id);
    let addresses = reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    Answer {
        status: status(reply.metadata.response_code),
        addresses,
    }
}

/// Sends `datagram` from a fresh socket and reads one reply (bounded by [`REPLY_TIMEOUT`]).
fn exchange(addr: SocketAddr, datagram: &[u8]) -> Message {
    let socket = StdUdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    socket.send_to(datagram, addr).unwrap();
    let mut buffer = [0u8; 4096];
    let (len, _) = socket.recv_from(&mut buffer).expect("a reply in time");
    Message::from_vec(&buffer[..len]).unwrap()
}

/// A response code as dig prints it.
fn status(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        other => format!("{other:?}"),
    }
}

fn answer(status: &str, addresses: &[Ipv4Addr]) -> Answer {
    Answer {
        status: status.to_owned(),
        addresses: addresses.to_vec(),
    }
}

#[tokio::test]
async fn the_jails_dns_answers_admitted_names_only_and_records_every_query() {
    let dns = Dns::start().await;
    let asked = [
        (
            "api.example.com",
            RecordType::A,
            answer("NOERROR", &[ANSWER]),
        ),
        (
            "Raw.GitHubUserContent.com",
            RecordType::A,
            answer("NOERROR", &[ANSWER]),
        ),
        ("pypi.org", RecordType::A, answer("NOERROR", &[ANSWER])),
        ("api.example.com", RecordType::AAAA, answer("NOERROR", &[])),
        (
            "c2VjcmV0.attacker.example",
            RecordType::TXT,
            answer("NXDOMAIN", &[]),
        ),
        (
            "c2VjcmV0.attacker.example",
            RecordType::A,
            answer("NXDOMAIN", &[]),
        ),
        ("example.com", RecordType::A, answer("NXDOMAIN", &[])),
    ];
    for (name, qtype, expected) in &asked {
        assert_eq!(&dns.ask(name, *qtype).await, expected, "{name} {qtype}");
    }

    let entries = audit_log::wait_for(&dns.audit, &dns.audit_path, asked.len(), |e| {
        e["scheme"] == "dns"
    })
    .await;
    assert_eq!(entries.len(), asked.len(), "one entry a query: {entries:?}");
    for (entry, (name, qtype, expected)) in entries.iter().zip(&asked) {
        assert_eq!(entry["host"], *name, "{entry}");
        assert_eq!(entry["method"], qtype.to_string(), "{entry}");
        assert_eq!(entry["port"], 53, "{entry}");
        assert_eq!(entry["path"], "", "{entry}");
        assert!(entry["client"].as_str().unwrap().starts_with("127.0.0.1:"));
        let decision = if expected.addresses.is_empty() {
            "deny"
        } else {
            "allow"
        };
        assert_eq!(entry["decision"], decision, "{entry}");
    }
    assert_eq!(
        entries[4]["reason"],
        "no rule admits c2VjcmV0.attacker.example: NXDOMAIN"
    );
    assert!(
        entries[3]["reason"]
            .as_str()
            .unwrap()
            .ends_with("not AAAA: NODATA"),
        "{}",
        entries[3]
    );
    audit_log::verify(&dns.audit_path);
    dns.stop().await;
}

#[tokio::test]
async fn malformed_datagrams_get_formerr_or_no_reply_and_are_recorded() {
    let dns = Dns::start().await;
    let addr = dns.addr;
    tokio::task::spawn_blocking(move || {
        let client = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
        // Five bytes: no header, so no reply. The query sent after it is the first answered.
        client.send_to(b"\x12\x34\x01\x00\x00", addr).unwrap();
        let mut query = Message::query();
        query.add_query(Query::query(
            Name::from_ascii("api.example.com.").unwrap(),
            RecordType::A,
        ));
        let bytes = query.to_vec().unwrap();
        // The header and half the question: FORMERR under the query's id.
        client.send_to(&bytes[..bytes.len() / 2], addr).unwrap();
        client.send_to(&bytes, addr).unwrap();
        let mut buffer = [0u8; 4096];
        let mut replies = Vec::new();
        for _ in 0..2 {
            let (len, _) = client.recv_from(&mut buffer).expect("a reply in time");
            replies.push(Message::from_vec(&buffer[..len]).unwrap());
        }
        assert_eq!(replies[0].metadata.id, query.metadata.id);
        assert_eq!(replies[0].metadata.response_code, ResponseCode::FormErr);
        assert_eq!(replies[1].metadata.response_code, ResponseCode::NoError);
        assert_eq!(replies[1].answers.len(), 1);
    })
    .await
    .unwrap();

    let entries =
        audit_log::wait_for(&dns.audit, &dns.audit_path, 3, |e| e["scheme"] == "dns").await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    let reasons: Vec<&str> = entries
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons[0],
        "malformed DNS query: 5 bytes, shorter than a DNS header: no reply"
    );
    assert!(
        reasons[1].starts_with("malformed DNS query: ") && reasons[1].ends_with(": FORMERR"),
        "{}",
        reasons[1]
    );
    assert_eq!(
        (&entries[0]["method"], &entries[0]["host"]),
        (&"-".into(), &"-".into())
    );
    assert_eq!(entries[2]["decision"], "allow");
    dns.stop().await;
}
