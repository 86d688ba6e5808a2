//! Several keyward replicas sharing one real Redis (`state: { redis: … }`): a rate limit is
//! one limit across them, a request held on one replica is listed and answered on any other
//! and released at once, approval windows are shared, and a replica killed while holding a
//! request never gets it forwarded twice.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::runtime::{admin, post, wait_pending};
use crate::support::agent::{Proto, Reply};
use crate::support::redis_server::RedisServer;
use crate::support::upstream::echo;
use crate::support::{Agent, Keyward, TestCa, Upstream, child, eventually_async};
use keyward::config::{RedisUrl, StateConfig};

pub(crate) const RULES: &str = r#"
rules:
  - id: read
    method: GET
    url: https://api.example.com/read/**
    decision: allow
  - id: limited
    method: GET
    url: https://api.example.com/limited
    limits: { rate: 200/hour, burst: 200 }
    decision: allow
  - id: transfer
    method: POST
    url: https://api.example.com/transfer
    approval: { timeout: 3s }
    decision: approve
"#;

/// One Redis, one upstream, and replicas of keyward in front of it sharing the Redis.
pub(crate) struct Cluster {
    pub(crate) redis: RedisServer,
    pub(crate) ca: TestCa,
    pub(crate) upstream: Upstream,
    pub(crate) rules: tempfile::TempDir,
    pub(crate) replicas: Vec<Keyward>,
}

impl Cluster {
    pub(crate) async fn start(replicas: usize) -> Cluster {
        let redis = RedisServer::start().await;
        let ca = TestCa::new();
        let upstream = Upstream::https(&ca, &["api.example.com"], &[b"http/1.1"], echo()).await;
        let rules = tempfile::tempdir().unwrap();
        std::fs::write(rules.path().join("api.yaml"), RULES).unwrap();
        let mut cluster = Cluster {
            redis,
            ca,
            upstream,
            rules,
            replicas: Vec::new(),
        };
        for _ in 0..replicas {
            let replica = cluster.replica().await;
            cluster.replicas.push(replica);
        }
        cluster
    }

    /// A replica (in this process) sharing the cluster's Redis.
    pub(crate) async fn replica(&self) -> Keyward {
        let rules = self.rules.path().to_path_buf();
        let url = self.redis.url();
        Keyward::in_front_of(&self.ca, "api.example.com", self.upstream.addr, move |c| {
            c.rules_dir = rules;
            c.workers = 1;
            c.state = Some(StateConfig {
                redis: RedisUrl::new(url),
                password: None,
                ca: None,
            });
        })
        .await
    }

    pub(crate) fn admin(&self, replica: usize) -> SocketAddr {
        self.replicas[replica].running.admin_addr().unwrap()
    }
}

/// `agent`'s transfer, on a task of its own.
fn hold(agent: Agent) -> tokio::task::JoinHandle<Reply> {
    tokio::spawn(async move {
        agent
            .send(Proto::H1, post("https://api.example.com/transfer"))
            .await
    })
}

#[tokio::test]
async fn four_replicas_share_one_rate_limit() {
    let c = Cluster::start(4).await;
    let agents: Vec<Agent> = c.replicas.iter().map(Keyward::agent).collect();
    let mut allowed = 0;
    let mut limited = 0;
    // 400 requests, round-robin over the replicas, eight at a time.
    for round in 0..50 {
        let mut batch = Vec::new();
        for i in 0..8 {
            let agent = agents[(round * 8 + i) % agents.len()].clone();
            batch.push(tokio::spawn(async move {
                agent
                    .get_status(Proto::H1, "https://api.example.com/limited")
                    .await
            }));
        }
        for status in batch {
            match status.await.unwrap() {
                StatusCode::OK => allowed += 1,
                StatusCode::TOO_MANY_REQUESTS => limited += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert!(
        (198..=202).contains(&allowed),
        "{allowed} allowed of 400 (the limit is 200 across the replicas)"
    );
    assert_eq!(allowed + limited, 400);
    assert_eq!(
        c.upstream.count(),
        allowed,
        "only the allowed were forwarded"
    );
}

#[tokio::test]
async fn an_approval_on_one_replica_releases_the_request_held_on_another() {
    let c = Cluster::start(4).await;
    // A denial on replica 4 reaches the request held on replica 1.
    let held = hold(c.replicas[0].agent());
    let pending = wait_pending(c.admin(3), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = admin(
        c.admin(3),
        "POST",
        &format!("/approvals/{id}/deny"),
        r#"{"reason":"not from here"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let reply = held.await.unwrap();
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.reason().contains("not from here"));
    assert_eq!(c.upstream.count(), 0);
    let log = c.replicas[0].flushed_audit_log().await;
    assert!(log.contains("\"by\":\"admin\""), "who denied is recorded");

    // Replica 1 lists what replica 3 holds (`keyward approvals list` too), and approves it
    // with a window.
    let held = hold(c.replicas[2].agent());
    let pending = wait_pending(c.admin(0), 1).await;
    assert_eq!(pending[0]["rule"], "transfer");
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let listed = child::command()
        .args([
            "approvals",
            "--admin",
            &format!("http://{}", c.admin(1)),
            "list",
        ])
        .arg("--token-file")
        .arg(c.replicas[1].dir.path().join("admin-token.configured"))
        .output()
        .await
        .unwrap();
    assert!(listed.status.success());
    assert!(
        String::from_utf8_lossy(&listed.stdout).contains(&id),
        "replica 2's `keyward approvals list` shows what replica 3 holds"
    );
    let (status, body) = admin(
        c.admin(0),
        "POST",
        &format!("/approvals/{id}/approve"),
        r#"{"for":"1m"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("released at once, well before the timeout")
        .unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        c.upstream.count(),
        1,
        "the upstream received it exactly once"
    );
    // Answered already: a second answer, on another replica, finds nothing.
    let (status, _) = admin(c.admin(1), "POST", &format!("/approvals/{id}/deny"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The window is shared: the same request on replica 2 passes without a hold.
    let follow_up = c.replicas[1]
        .agent()
        .send(Proto::H1, post("https://api.example.com/transfer"))
        .await;
    assert_eq!(follow_up.status, StatusCode::OK);
    assert_eq!(c.upstream.count(), 2);
}

#[tokio::test]
async fn a_replica_killed_while_holding_is_never_forwarded_twice() {
    let c = Cluster::start(1).await;
    // The replica to kill is the real binary, so it dies as a process does.
    let work = tempfile::tempdir().unwrap();
    let token = work.path().join("admin-token");
    std::fs::write(&token, crate::support::ADMIN_TOKEN).unwrap();
    let config = work.path().join("keyward.yaml");
    std::fs::write(&config, format!("state:\n  redis: {}\n", c.redis.url())).unwrap();
    let mut command = child::command();
    command
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--admin-token")
        .arg(format!("file:{}", token.display()))
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(c.rules.path())
        .arg("--upstream-ca")
        .arg(&c.ca.path)
        .arg("--resolve")
        .arg(format!("api.example.com:443:{}", c.upstream.addr))
        .arg("--audit-log")
        .arg(work.path().join("audit.jsonl"));
    let mut doomed = child::spawn(command, work.path()).await;
    let agent = Agent::new(doomed.addr, &work.path().join("certs/ca.pem"));
    let held = hold(agent);
    let pending = wait_pending(c.admin(0), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let _ = doomed.process.start_kill();
    let _ = doomed.process.wait().await;
    assert!(
        held.await.is_err(),
        "the agent's connection died with the replica"
    );
    // The record outlives its holder until the timeout: it is still answerable...
    let (status, _) = admin(c.admin(0), "POST", &format!("/approvals/{id}/approve"), "").await;
    assert!(
        status == StatusCode::OK || status == StatusCode::NOT_FOUND,
        "answerable or expired: {status}"
    );
    // ...and nothing reaches the upstream; the agent retries through a live replica.
    let retried = hold(c.replicas[0].agent());
    let pending = wait_pending(c.admin(0), 1).await;
    let new_id = pending[0]["id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, id, "the retry is a hold of its own");
    let (status, _) = admin(
        c.admin(0),
        "POST",
        &format!("/approvals/{new_id}/approve"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(retried.await.unwrap().status, StatusCode::OK);
    assert_eq!(c.upstream.count(), 1, "forwarded once, by the live replica");
}

#[tokio::test]
async fn an_unanswered_hold_times_out_and_leaves_no_replica_listing_it() {
    let c = Cluster::start(2).await;
    let held = hold(c.replicas[0].agent());
    let pending = wait_pending(c.admin(1), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let reply = held.await.unwrap();
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["reason"], "approval timed out");
    wait_no_pending(c.admin(1)).await;
    let (status, _) = admin(c.admin(1), "POST", &format!("/approvals/{id}/approve"), "").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "an expired hold cannot be answered"
    );
    assert_eq!(c.upstream.count(), 0);
    let log = c.replicas[0].flushed_audit_log().await;
    assert!(log.contains("\"decision\":\"timed_out\""));
}

/// Waits (bounded) until the admin API at `addr` lists no held request on any replica.
pub(crate) async fn wait_no_pending(addr: SocketAddr) {
    eventually_async(
        "no pending approvals",
        Duration::from_secs(10),
        async || {
            let (_, text) = admin(addr, "GET", "/approvals", "").await;
            let list: Vec<serde_json::Value> = serde_json::from_str(&text).ok()?;
            list.is_empty().then_some(())
        },
    )
    .await;
}

/// A GET through `agent`.
pub(crate) async fn get(agent: &Agent, path: &str) -> Reply {
    let req = Request::get(format!("https://api.example.com{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    agent.send(Proto::H1, req).await
}
