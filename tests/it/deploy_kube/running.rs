//! The replicated Deployment as it runs: started with its arguments, mounts and
//! keyward.yaml against a real `redis-server` that requires the Secret's password, and two
//! replicas configured by that keyward.yaml sharing one rate limit, their audit chains
//! verified with `keyward audit verify --public-key`.

use std::path::{Path, PathBuf};
use std::process::Command;

use http::StatusCode;
use serde_json::Value;

use super::{REDIS_IN_CLUSTER, keyward_yaml, mounted};
use crate::deploy_units::{kubernetes_unit, object, objects, start_prepared, string_map};
use crate::support::agent::Proto;
use crate::support::redis_server::RedisServer;
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream, eventually_async};
use keyward::config::FileConfig;

/// `keyward audit keygen` into `dir`: (private, public).
fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let private = dir.join("audit-key.pem");
    let public = dir.join("audit-key.pub.pem");
    let _ = std::fs::remove_file(&private);
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "keygen", "--private"])
        .arg(&private)
        .arg("--public")
        .arg(&public)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (private, public)
}

/// The Secret's placeholder password, which the test Redis requires.
fn redis_password(all: &[Value]) -> String {
    string_map(&object(all, "Secret", "keyward-redis")["stringData"])["password"].clone()
}

/// keyward.yaml with its paths under `root` and its Redis at `url`.
fn rewritten(text: &str, root: &Path, url: &str) -> String {
    let root = root.display();
    text.replace(REDIS_IN_CLUSTER, url)
        .replace("file:/", &format!("file:{root}/"))
        .replace("path: /", &format!("path: {root}/"))
}

#[tokio::test]
async fn deployment_starts_with_its_config_and_mounts_against_redis() {
    let all = objects();
    let password = redis_password(&all);
    let redis = RedisServer::start_with(vec!["--requirepass".into(), password.clone()], None).await;
    let unit = kubernetes_unit("Deployment", "keyward");
    assert!(unit.token.is_some(), "the Deployment mounts an admin token");
    let mut secrets = vec![password.clone(), unit.token.clone().unwrap()];
    secrets.extend(
        string_map(&object(&all, "Secret", "keyward-approvers")["stringData"]).into_values(),
    );
    let url = redis.url();
    let written = start_prepared(unit, |root| {
        let config = root.join("etc/keyward/config/keyward.yaml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, rewritten(&text, root, &url)).unwrap();
        keygen(&root.join("var/run/keyward/audit-key"));
    })
    .await;
    for secret in secrets {
        assert!(!written.contains(&secret), "a secret was written");
    }
}

const LIMITED: &str = r#"
rules:
  - id: limited
    method: GET
    url: https://api.example.com/limited
    limits: { rate: 6/hour, burst: 6 }
    decision: allow
"#;

#[tokio::test]
async fn two_replicas_of_the_config_map_share_a_rate_limit_and_verify_their_audit() {
    let all = objects();
    let (files, _) = mounted(&all);
    let password = redis_password(&all);
    let redis = RedisServer::start_with(vec!["--requirepass".into(), password.clone()], None).await;
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.example.com"], &[b"http/1.1"], echo()).await;
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("api.yaml"), LIMITED).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = keygen(keys.path());
    let mut roots = Vec::new();
    let mut replicas = Vec::new();
    for i in 0..2 {
        // Each pod's mounts, with the real key in place of the Secret's placeholder.
        let root = tempfile::tempdir().unwrap();
        for (path, text) in &files {
            let at = root.path().join(path.trim_start_matches('/'));
            std::fs::create_dir_all(at.parent().unwrap()).unwrap();
            std::fs::write(&at, text).unwrap();
        }
        let key = root.path().join("var/run/keyward/audit-key/audit-key.pem");
        std::fs::copy(&private, key).unwrap();
        let config = root.path().join("etc/keyward/config/keyward.yaml");
        let text = rewritten(&keyward_yaml(&all), root.path(), &redis.url());
        std::fs::write(&config, text).unwrap();
        let file = FileConfig::load(&config).unwrap();
        let rules_dir = rules.path().to_path_buf();
        let keyward = Keyward::in_front_of(&ca, "api.example.com", upstream.addr, move |c| {
            file.apply(c).unwrap();
            c.rules_dir = rules_dir;
            c.workers = 1;
            if let Some(audit) = c.audit.as_mut() {
                // Pods have host names of their own; these share the test's.
                audit.replica = Some(format!("keyward-{i}"));
                audit.also_stdout = false;
            }
        })
        .await;
        let admin = keyward.running.admin_addr().unwrap().to_string();
        eventually_async(
            "replica ready",
            std::time::Duration::from_secs(10),
            async || {
                (crate::support::admin_get(&admin, "/readyz").await.status == StatusCode::OK)
                    .then_some(())
            },
        )
        .await;
        roots.push(root);
        replicas.push(keyward);
    }
    let agents: Vec<_> = replicas.iter().map(Keyward::agent).collect();
    let mut statuses = Vec::new();
    for n in 0..10 {
        let agent = &agents[n % 2];
        statuses.push(
            agent
                .get_status(Proto::H1, "https://api.example.com/limited")
                .await,
        );
    }
    let allowed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((allowed, limited), (6, 4), "{statuses:?}");
    assert_eq!(upstream.count(), 6, "the limit is one across both replicas");
    let logs: Vec<PathBuf> = roots
        .iter()
        .map(|r| r.path().join("var/lib/keyward/logs/audit.jsonl"))
        .collect();
    for keyward in replicas {
        keyward.running.shutdown().await;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["audit", "verify", "--public-key"])
        .arg(&public)
        .args(&logs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{out:?}");
    for (i, log) in logs.iter().enumerate() {
        assert!(
            stdout.contains(&format!("ok: replica keyward-{i}")),
            "{stdout}"
        );
        let log = std::fs::read_to_string(log).unwrap();
        assert_eq!(log.matches("\"rule\":\"limited\"").count(), 5, "{log}");
        assert!(!log.contains(&password), "the Redis password was written");
    }
}
