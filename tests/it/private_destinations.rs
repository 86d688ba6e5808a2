//! Private destinations that rules name: a rule's `allow_private:` opens the private address
//! its host resolves to for that rule's requests only; every other request to a private
//! address stays refused (403, audited), also on a pooled connection to the same upstream.
//!
//! The upstream listens on the root namespace's end of a veth pair (10.213.x.y, private, not
//! loopback). keyward runs in the network namespace at the other end, so every request it
//! forwards crosses the link, and in a mount namespace of its own whose /etc/hosts maps the
//! test names to the upstream's address: the names go through the system resolver like DNS
//! answers would, checked by the destination guard, not trusted like `--resolve` pins.

use std::path::Path;
use std::process::Stdio;

use http::StatusCode;

use crate::support::agent::Proto;
use crate::support::child;
use crate::support::netns::PrivateLink;
use crate::support::{Agent, TestCa, Upstream, upstream};

/// A name whose rule's `allow_private:` covers the link (and a second rule on the same name
/// without it, for `/shut/**`).
const OPEN: &str = "open.internal.test";
/// A name allowed by a rule without `allow_private:`.
const SHUT: &str = "shut.internal.test";
/// A name allowed by a rule whose `allow_private:` names another range.
const ELSEWHERE: &str = "elsewhere.internal.test";
/// A name allowed by `--allow` (a decision with no rule).
const HOSTWIDE: &str = "hostwide.internal.test";

#[tokio::test]
async fn allow_private_opens_only_the_ranges_its_rule_names() {
    let link = match PrivateLink::create() {
        Ok(link) => link,
        Err(why) => {
            eprintln!("skipping the private destination test: {why}");
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    let hosts = work.path().join("hosts");
    let names = [OPEN, SHUT, ELSEWHERE, HOSTWIDE].join(" ");
    std::fs::write(
        &hosts,
        format!("127.0.0.1 localhost\n{} {names}\n", link.host_addr),
    )
    .unwrap();
    if let Err(why) = private_hosts_work(&hosts) {
        eprintln!("skipping the private destination test: {why}");
        return;
    }

    let ca = TestCa::new();
    let addr = link.host_addr.to_string();
    let upstream = Upstream::https_on(
        &format!("{addr}:0"),
        &ca,
        &[OPEN, SHUT, ELSEWHERE, HOSTWIDE, &addr],
        upstream::echo(),
    )
    .await;
    let port = upstream.addr.port();
    let rules = work.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("internal.yaml"),
        format!(
            "rules:
  - id: open-reads
    url: https://{OPEN}:{port}/open/**
    decision: allow
    allow_private: [{cidr}]
  - id: open-unlisted
    url: https://{OPEN}:{port}/shut/**
    decision: allow
  - id: shut
    url: https://{SHUT}:{port}/**
    decision: allow
  - id: elsewhere
    url: https://{ELSEWHERE}:{port}/**
    decision: allow
    allow_private: [10.214.0.0/16, 127.0.0.0/8]
  - id: by-address
    url: https://{addr}:{port}/literal/**
    decision: allow
    allow_private: [{cidr}]
  - id: by-address-unlisted
    url: https://{addr}:{port}/bare/**
    decision: allow
",
            cidr = link.cidr
        ),
    )
    .unwrap();

    let audit_path = work.path().join("audit.jsonl");
    let mut command = child::command_in_netns(&link.netns, &hosts);
    command
        .arg("serve")
        .arg("--listen")
        .arg(format!("{}:0", link.peer_addr))
        .args(["--log-format", "json"]);
    child::with_files(
        command.as_std_mut(),
        work.path(),
        &rules,
        &ca.path,
        &audit_path,
    )
    .arg("--allow")
    .arg(format!("{HOSTWIDE}:{port}"))
    .env("RUST_LOG", "keyward=debug");
    let mut keyward = child::spawn(command, work.path()).await;
    assert_eq!(keyward.addr.ip(), std::net::IpAddr::V4(link.peer_addr));
    let agent = Agent::new(keyward.addr, &work.path().join("certs/ca.pem"));
    let url = |host: &str, path: &str| format!("https://{host}:{port}{path}");

    // The covered rule reaches the upstream on its private address, over both protocols.
    let reply = agent.get(Proto::H1, &url(OPEN, "/open/1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["path"], "/open/1");
    assert_eq!(upstream.count(), 1);

    // Same host, same upstream, a pooled connection ready: a rule without the range is
    // refused before anything is sent.
    for proto in [Proto::H1, Proto::H2] {
        let reply = agent.get(proto, &url(OPEN, "/shut/1")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
        assert_eq!(reply.json()["error"], "destination_refused", "{reply:?}");
        let reason = reply.reason().to_owned();
        assert!(
            reason.contains(&link.host_addr.to_string()) && reason.contains("private"),
            "{reason}"
        );
    }
    // Another name on the same address, its rule without `allow_private:`, one naming
    // other ranges (loopback among them), and a host-wide `--allow`: all refused.
    for host in [SHUT, ELSEWHERE, HOSTWIDE] {
        let reply = agent.get(Proto::H2, &url(host, "/x")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{host}: {reply:?}");
        assert_eq!(reply.json()["error"], "destination_refused", "{host}");
    }
    assert_eq!(
        upstream.count(),
        1,
        "refused requests reached the upstream: {:?}",
        upstream.seen()
    );

    // An IP literal: the CONNECT is let through because a rule for it opens the address,
    // and each request is still checked against its own rule when dialled.
    let reply = agent.get(Proto::H1, &url(&addr, "/literal/1")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = agent.get(Proto::H1, &url(&addr, "/bare/1")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(reply.json()["error"], "destination_refused");

    // The covered rule still works afterwards (its own pool).
    let reply = agent.get(Proto::H2, &url(OPEN, "/open/2")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let seen: Vec<String> = upstream.seen().into_iter().map(|s| s.uri).collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.iter()
            .all(|uri| uri.contains("/open/") || uri.contains("/literal/")),
        "{seen:?}"
    );

    // Every request has its audit entry: the refusals as 403 with the guard's reason.
    assert!(keyward.terminate().await.success());
    let log = std::fs::read_to_string(&audit_path).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let entry = |host: &str, path: &str| {
        let found: Vec<&serde_json::Value> = entries
            .iter()
            .filter(|e| e["host"] == host && e["path"] == path)
            .collect();
        assert!(!found.is_empty(), "no audit entry for {host}{path}: {log}");
        found
    };
    for e in entry(OPEN, "/open/1") {
        assert_eq!(e["status"], 200);
        assert_eq!(e["rule"], "open-reads");
    }
    let shut = entry(OPEN, "/shut/1");
    assert_eq!(shut.len(), 2, "{log}");
    for e in shut {
        assert_eq!(e["status"], 403);
        assert_eq!(e["rule"], "open-unlisted");
        assert!(e["reason"].as_str().unwrap().contains("private"), "{e}");
    }
    for (host, path) in [
        (SHUT, "/x"),
        (ELSEWHERE, "/x"),
        (HOSTWIDE, "/x"),
        (&addr, "/bare/1"),
    ] {
        for e in entry(host, path) {
            assert_eq!(e["status"], 403, "{e}");
        }
    }
    drop(link);
}

/// Checks that a mount namespace with `hosts` over /etc/hosts can be made here.
fn private_hosts_work(hosts: &Path) -> Result<(), String> {
    let status = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", child::MOUNT_HOSTS_THEN_EXEC])
        .arg(hosts)
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("cannot bind-mount a hosts file in a new mount namespace".into())
    }
}
