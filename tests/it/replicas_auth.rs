//! Replicas reaching a Redis that needs TLS and an ACL user: `rediss://` verified against
//! `state.ca`, the password read from a secret source; a wrong password keeps the replica
//! unready and its limited requests refused, and no password appears in what it writes.

use std::time::Duration;

use http::StatusCode;

use crate::replicas::{RULES, get};
use crate::support::agent::Agent;
use crate::support::redis_server::RedisServer;
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream, admin_get, child, eventually_async};
use keyward::config::{RedisUrl, StateConfig};

const PASSWORD: &str = "redis-pass-5f0c2a91d7e3b8";
const WRONG: &str = "wrong-pass-0a9b8c7d6e5f4a";

#[tokio::test]
async fn rediss_with_an_acl_user_and_a_password_from_a_secret_source() {
    let ca = TestCa::new();
    let pass = format!(">{PASSWORD}");
    let args: Vec<String> = [
        "--user",
        "keyward",
        "on",
        &pass,
        "~keyward:*",
        "&*",
        "+@all",
    ]
    .into_iter()
    .chain(["--user", "default", "off"])
    .map(str::to_owned)
    .collect();
    let redis = RedisServer::start_with(args, Some(&ca)).await;
    let upstream = Upstream::https(&ca, &["api.example.com"], &[b"http/1.1"], echo()).await;
    let files = tempfile::tempdir().unwrap();
    std::fs::create_dir(files.path().join("rules")).unwrap();
    std::fs::write(files.path().join("rules/api.yaml"), RULES).unwrap();
    std::fs::write(files.path().join("right"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(files.path().join("wrong"), WRONG).unwrap();
    let url = redis.url().replace("rediss://", "rediss://keyward@");

    let (rules, state_url, ca_path) = (files.path().join("rules"), url.clone(), ca.path.clone());
    let password = format!("file:{}", files.path().join("right").display());
    let keyward = Keyward::in_front_of(&ca, "api.example.com", upstream.addr, move |c| {
        c.rules_dir = rules;
        c.workers = 1;
        c.state = Some(StateConfig {
            redis: RedisUrl::new(state_url),
            password: Some(password),
            ca: Some(ca_path),
        });
    })
    .await;
    let admin = keyward.running.admin_addr().unwrap().to_string();
    eventually_async("ready over TLS", Duration::from_secs(10), async || {
        (admin_get(&admin, "/readyz").await.status == StatusCode::OK).then_some(())
    })
    .await;
    let agent = keyward.agent();
    assert_eq!(get(&agent, "/limited").await.status, StatusCode::OK);
    assert_eq!(upstream.count(), 1);

    // The same Redis with a wrong password, through the binary: never ready, limited
    // requests refused, and neither password in anything it writes.
    let work = tempfile::tempdir().unwrap();
    let token = work.path().join("admin-token");
    std::fs::write(&token, crate::support::ADMIN_TOKEN).unwrap();
    let config = work.path().join("keyward.yaml");
    std::fs::write(
        &config,
        format!(
            "state:\n  redis: {url}\n  password: file:{}\n  ca: {}\nworkers: 1\n",
            files.path().join("wrong").display(),
            ca.path.display()
        ),
    )
    .unwrap();
    let mut command = child::command();
    command
        .env("RUST_LOG", "keyward=debug")
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--admin-token")
        .arg(format!("file:{}", token.display()))
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(files.path().join("rules"))
        .arg("--upstream-ca")
        .arg(&ca.path)
        .arg("--resolve")
        .arg(format!("api.example.com:443:{}", upstream.addr))
        .arg("--audit-log")
        .arg(work.path().join("audit.jsonl"));
    let mut refused = child::spawn(command, work.path()).await;
    let refused_admin = refused.admin().await;
    let agent = Agent::new(refused.addr, &work.path().join("certs/ca.pem"));
    let reply = get(&agent, "/limited").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let reason = reply.reason();
    assert!(reason.contains("shared state (Redis)"), "{reason}");
    assert_eq!(
        admin_get(&refused_admin, "/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(get(&agent, "/read/x").await.status, StatusCode::OK);
    assert_eq!(upstream.count(), 2, "the limited request was not forwarded");
    refused.terminate().await;
    let mut written = String::from_utf8_lossy(&reply.body).into_owned();
    for file in [
        refused.stdout.clone(),
        refused.stderr.clone(),
        work.path().join("audit.jsonl"),
    ] {
        written.push_str(&std::fs::read_to_string(file).unwrap());
    }
    assert!(
        written.contains("shared state (Redis)"),
        "the failure is told:\n{written}"
    );
    for secret in [PASSWORD, WRONG] {
        assert!(
            !written.contains(secret),
            "a Redis password was written:\n{written}"
        );
    }
}
