//! Secrets read from secret managers through the real proxy: AWS Secrets Manager (moto in
//! server mode, checking every signature) and Vault KV v2 (a test server speaking Vault's
//! documented API, with an AppRole login). The value reaches the upstream in place of the
//! agent's placeholder; a missing secret, a refused token or a manager that is down answers
//! 503 naming the cause, with nothing forwarded; no value reaches the agent or the audit.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;

use crate::aws_sigv4::{HOST as AWS_HOST, Moto, available};
use crate::support::agent::Proto;
use crate::support::upstream::echo;
use crate::support::{Keyward, TestCa, Upstream, audit_log, eventually};

/// How long a server may take to start.
const WAIT: Duration = Duration::from_secs(90);
const API: &str = "api.github.com";
const VAULT_HOST: &str = "vault.keyward.test";
const VALUE: &str = "ghp_from_the_manager_4e3d2c1b";

fn request(placeholder: &str, path: &str) -> Request<Full<Bytes>> {
    Request::get(format!("https://{API}{path}"))
        .header("authorization", format!("Bearer {placeholder}"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// keyward with `rules` trusting `ca`, pinning the API and `pins`.
async fn keyward(ca: &TestCa, api: &Upstream, pins: &[(&str, SocketAddr)], rules: &str) -> Keyward {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets.yaml"), rules).unwrap();
    let api_pin = format!("{API}:443");
    let mut resolve = vec![(api_pin.as_str(), api.addr)];
    resolve.extend_from_slice(pins);
    let rules_dir = dir.path().to_owned();
    let k = Keyward::start(ca, &resolve, &[], |c| c.rules_dir = rules_dir).await;
    // The rules directory lives as long as keyward's own.
    std::mem::forget(dir);
    k
}

/// The authorization headers the API received.
fn api_seen(api: &Upstream) -> Vec<String> {
    api.seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect()
}

/// The audit log, checked for `secrets`, with its entries for the API.
async fn audit_without(k: &Keyward, n: usize, secrets: &[&str]) -> Vec<serde_json::Value> {
    let audit = k.running.handles().audit().unwrap().clone();
    let entries = audit_log::wait_for(&audit, &k.audit_path(), n, |e| e["host"] == API).await;
    let log = k.flushed_audit_log().await;
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
    entries
}

const AWS_RULES: &str = r#"
secrets:
  aws:
    kind: aws
    from: file:CREDS
    hosts: [aws.keyward.test]
  gh:
    from:
      aws_secrets_manager:
        secret_id: prod/github
        region: us-east-1
        field: token
        credentials: aws
        endpoint: https://aws.keyward.test
    placeholder: keyward:gh:0a1b2c3d4e5f6a7b
    hosts: [api.github.com]
  gone:
    from:
      aws_secrets_manager:
        secret_id: prod/nothing-here
        region: us-east-1
        credentials: file:CREDS
        endpoint: https://aws.keyward.test
    placeholder: keyward:gone:0a1b2c3d4e5f6a7b
    hosts: [api.github.com]
rules:
  - id: api
    url: https://api.github.com/user
    inject: [gh]
    decision: allow
  - id: gone
    url: https://api.github.com/gone
    inject: [gone]
    decision: allow
"#;

/// Creates `prod/github` in moto with boto3 and the real key pair.
async fn create_secret(moto: &Moto, ca: &TestCa) {
    let script = r#"
import json, sys, boto3
creds = json.load(open(sys.argv[1]))
sm = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=sys.argv[2],
    aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
    verify=sys.argv[3])
sm.create_secret(Name="prod/github", SecretString=json.dumps({"token": sys.argv[4], "user": "bot"}))
"#;
    let out = tokio::process::Command::new("python3")
        .args(["-c", script])
        .arg(&moto.creds)
        .arg(format!("https://127.0.0.1:{}", moto.port))
        .arg(&ca.path)
        .arg(VALUE)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output();
    let out = tokio::time::timeout(WAIT, out).await.unwrap().unwrap();
    assert!(
        out.status.success(),
        "create_secret: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_from_aws_secrets_manager_is_injected_and_failures_answer_503() {
    assert!(
        available(),
        "python3 with boto3 and moto[server] is required (scripts/test installs it)"
    );
    let work = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let moto = Moto::start(&ca, work.path()).await;
    create_secret(&moto, &ca).await;
    let api = Upstream::https(&ca, &[API], &[b"http/1.1"], echo()).await;
    let moto_addr: SocketAddr = format!("127.0.0.1:{}", moto.port).parse().unwrap();
    let pin = format!("{AWS_HOST}:443");
    let rules = AWS_RULES.replace("CREDS", &moto.creds.display().to_string());
    let k = keyward(&ca, &api, &[(pin.as_str(), moto_addr)], &rules).await;
    let agent = k.agent();

    // Read from moto (signed with the real key pair, which moto checks) when the rules
    // load, then reused for the TTL.
    let reads = || {
        moto.requests()
            .iter()
            .filter(|r| {
                r["authorization"]
                    .as_str()
                    .is_some_and(|a| a.contains("/secretsmanager/aws4_request"))
            })
            .count()
    };
    for _ in 0..2 {
        let reply = agent
            .send(Proto::H1, request("keyward:gh:0a1b2c3d4e5f6a7b", "/user"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert!(!String::from_utf8_lossy(&reply.body).contains(VALUE));
    }
    assert_eq!(
        api_seen(&api),
        [format!("Bearer {VALUE}"), format!("Bearer {VALUE}")]
    );
    // The secret's creation, then one read of each secret (the rules' load resolves them
    // too, at the same time as the requests: the value is read once all the same).
    eventually("the load's reads", WAIT, || (reads() >= 3).then_some(())).await;
    assert_eq!(reads(), 3, "the value is reused");

    // A secret moto does not have: 503 naming AWS's error, nothing forwarded.
    let reply = agent
        .send(Proto::H1, request("keyward:gone:0a1b2c3d4e5f6a7b", "/gone"))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    let reason = reply.reason();
    assert!(
        reason.starts_with("secret gone is unavailable: secret manager aws_secrets_manager:us-east-1/prod/nothing-here failed: GetSecretValue answered 4")
            && reason.ends_with(": ResourceNotFoundException"),
        "{reason}"
    );
    assert_eq!(api.count(), 2);

    // moto down: 503 with the reason; nothing forwarded.
    moto.stop().await;
    let reply = agent
        .send(Proto::H2, request("keyward:gone:0a1b2c3d4e5f6a7b", "/gone"))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    let reason = reply.reason();
    assert!(
        reason.starts_with("secret gone is unavailable: secret manager aws_secrets_manager:us-east-1/prod/nothing-here failed: "),
        "{reason}"
    );
    assert!(!reason.contains("ResourceNotFound"), "{reason}");
    assert_eq!(api.count(), 2);

    let entries = audit_without(&k, 4, &[VALUE]).await;
    let refused: Vec<_> = entries.iter().filter(|e| e["status"] == 503).collect();
    assert_eq!(refused.len(), 2, "{entries:?}");
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFoundException"),
        "{:?}",
        refused[0]
    );
    audit_log::verify(&k.audit_path());
}

/// The Vault test server on a loopback port, killed by its PID when dropped.
struct Vault {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Vault {
    async fn start(ca: &TestCa, dir: &Path, config: &serde_json::Value) -> Vault {
        let (cert, key) = ca.leaf_files(&[VAULT_HOST], dir);
        let (config_path, log) = (dir.join("vault.json"), dir.join("vault-requests.jsonl"));
        std::fs::write(&config_path, config.to_string()).unwrap();
        let stdout = dir.join("vault.out");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/vault_server.py");
        let child = tokio::process::Command::new("python3")
            .arg(script)
            .args([&cert, &key, &config_path, &log])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let port = eventually("the Vault test server printing its port", WAIT, || {
            let text = std::fs::read_to_string(&stdout).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("listening on "))?
                .trim()
                .parse::<u16>()
                .ok()
        })
        .await;
        Vault {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            log,
        }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

const VAULT_RULES: &str = r#"
secrets:
  gh:
    from:
      vault:
        address: https://vault.keyward.test
        path: secret/data/github
        field: token
        namespace: team-a
        auth:
          approle: { role_id: keyward-role, secret_id: file:DIR/secret-id }
    placeholder: keyward:gh:0a1b2c3d4e5f6a7b
    hosts: [api.github.com]
  denied:
    from:
      vault:
        address: https://vault.keyward.test
        path: secret/data/github
        field: token
        auth: { token: file:DIR/revoked-token }
    placeholder: keyward:denied:0a1b2c3d4e5f6a7b
    hosts: [api.github.com]
rules:
  - id: api
    url: https://api.github.com/user
    inject: [gh]
    decision: allow
  - id: denied
    url: https://api.github.com/denied
    inject: [denied]
    decision: allow
"#;

const SECRET_ID: &str = "approle-secret-id-8b7a6f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_from_vault_is_injected_with_an_approle_login_and_failures_answer_503() {
    let work = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let config = serde_json::json!({
        "role_id": "keyward-role",
        "secret_id": SECRET_ID,
        "lease_duration": 3600,
        "secrets": {"secret/data/github": {"token": VALUE, "user": "bot"}},
    });
    let vault = Vault::start(&ca, work.path(), &config).await;
    std::fs::write(work.path().join("secret-id"), SECRET_ID).unwrap();
    std::fs::write(work.path().join("revoked-token"), "hvs.revoked").unwrap();
    let api = Upstream::https(&ca, &[API], &[b"http/1.1"], echo()).await;
    let pin = format!("{VAULT_HOST}:443");
    let rules = VAULT_RULES.replace("DIR", &work.path().display().to_string());
    let k = keyward(&ca, &api, &[(pin.as_str(), vault.addr)], &rules).await;
    let agent = k.agent();

    // One login, one read of each secret (the rules' load resolves them too, at the same
    // time as the requests: the value is read once all the same).
    for proto in [Proto::H1, Proto::H2] {
        let reply = agent
            .send(proto, request("keyward:gh:0a1b2c3d4e5f6a7b", "/user"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    assert_eq!(
        api_seen(&api),
        [format!("Bearer {VALUE}"), format!("Bearer {VALUE}")]
    );
    eventually("the load's reads", WAIT, || {
        (vault.requests().len() >= 3).then_some(())
    })
    .await;
    let seen = vault.requests();
    assert_eq!(seen.len(), 3, "the value is reused: {seen:?}");
    let logins: Vec<_> = seen
        .iter()
        .filter(|r| r["path"] == "/v1/auth/approle/login")
        .collect();
    assert_eq!(logins.len(), 1, "{seen:?}");
    assert_eq!(logins[0]["namespace"], "team-a");
    let read = seen
        .iter()
        .find(|r| r["token"] == "hvs.approle-1-5c4b3a")
        .unwrap_or_else(|| panic!("no read with the login's token: {seen:?}"));
    assert_eq!(read["path"], "/v1/secret/data/github");
    assert_eq!(read["namespace"], "team-a");

    // A token Vault refuses: 503 with Vault's error, nothing forwarded.
    let reply = agent
        .send(
            Proto::H1,
            request("keyward:denied:0a1b2c3d4e5f6a7b", "/denied"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(
        reply.reason(),
        "secret denied is unavailable: secret manager vault:https://vault.keyward.test/v1/secret/data/github#token failed: Vault answered 403: permission denied"
    );
    assert_eq!(api.count(), 2);

    // Vault down: 503, nothing forwarded.
    vault.stop().await;
    let reply = agent
        .send(
            Proto::H1,
            request("keyward:denied:0a1b2c3d4e5f6a7b", "/denied"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert!(
        reply
            .reason()
            .starts_with("secret denied is unavailable: secret manager vault:"),
        "{}",
        reply.reason()
    );
    assert_eq!(api.count(), 2);

    let entries = audit_without(&k, 4, &[VALUE, SECRET_ID, "hvs.approle-1-5c4b3a"]).await;
    assert_eq!(
        entries.iter().filter(|e| e["status"] == 503).count(),
        2,
        "{entries:?}"
    );
    audit_log::verify(&k.audit_path());
}

#[tokio::test]
async fn secrets_list_names_the_managers_without_a_value() {
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(work.path().join("token"), "hvs.listed-token-3e2d1c").unwrap();
    let yaml = format!(
        "secrets:\n  gh:\n    from:\n      vault:\n        address: https://127.0.0.1:1\n        path: secret/data/github\n        field: token\n        auth: {{ token: file:{dir}/token }}\n    hosts: [api.github.com]\n  sm:\n    from:\n      aws_secrets_manager:\n        secret_id: prod/github\n        region: eu-west-1\n        field: token\n        credentials: file:{dir}/none.json\n        endpoint: https://127.0.0.1:1\n    hosts: [api.github.com]\n",
        dir = work.path().display()
    );
    std::fs::write(rules.join("secrets.yaml"), yaml).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["secrets", "list", "--rules"])
        .arg(&rules)
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .output();
    let out = tokio::time::timeout(WAIT, out).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("source: vault:https://127.0.0.1:1/v1/secret/data/github#token\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("source: aws_secrets_manager:eu-west-1/prod/github#token\n"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("status: does not resolve: ").count(),
        2,
        "{stdout}"
    );
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("hvs.listed-token-3e2d1c"), "{all}");
}
