//! AWS SigV4 credentials end to end: moto (server mode, authentication enforced) behind
//! keyward, boto3 and the AWS CLI run unchanged through `keyward run` with the placeholder
//! key pair. They list and create buckets, put an object (aws-chunked with a trailing
//! checksum), read it back, call STS and fetch a presigned URL; a request signed with another
//! secret key, or sent to a host the secret is not bound to, is refused, audited, and never
//! reaches moto; the real secret key never reaches the agent, keyward's output or the audit.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value};

use crate::support::{TestCa, audit_log, eventually};

/// How long moto may take to start, and the client to finish.
const WAIT: Duration = Duration::from_secs(90);
/// The name the agent uses for AWS (keyward maps it to moto).
pub(crate) const HOST: &str = "aws.keyward.test";
/// A host the rules allow but the secret is not bound to (mapped to moto too).
const OTHER: &str = "other.keyward.test";

const RULES: &str = r#"
secrets:
  aws:
    kind: aws
    from: file:CREDS
    hosts: [aws.keyward.test]
rules:
  - id: aws-s3
    url: https://aws.keyward.test/**
    headers: { Authorization: { regex: '/us-east-1/s3/aws4_request' } }
    decision: allow
    inject: [aws]
  - id: aws-s3-presigned
    method: GET
    url: https://aws.keyward.test/**
    query: { X-Amz-Credential: { regex: '/us-east-1/s3/aws4_request$' } }
    decision: allow
    inject: [aws]
  - id: aws-sts-identity
    method: POST
    url: https://aws.keyward.test/
    headers: { Authorization: { regex: '/sts/aws4_request' } }
    body: { form: { /Action: { one_of: [GetCallerIdentity] } } }
    decision: allow
    inject: [aws]
  - id: other
    url: https://other.keyward.test/**
    decision: allow
"#;

/// Python with boto3, moto's server and the AWS CLI.
pub(crate) fn available() -> bool {
    let python = std::process::Command::new("python3")
        .args(["-c", "import boto3, moto.server, werkzeug, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    let cli = std::process::Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    python && cli
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/aws_sigv4")
        .join(name)
}

/// moto on a loopback port, killed by its PID when dropped.
pub(crate) struct Moto {
    child: tokio::process::Child,
    pub(crate) port: u16,
    /// One JSON line per request that reached moto.
    log: PathBuf,
    /// The real key pair, as JSON.
    pub(crate) creds: PathBuf,
    stderr: PathBuf,
}

impl Moto {
    pub(crate) async fn start(ca: &TestCa, dir: &Path) -> Moto {
        let (cert, key) = ca.leaf_files(&[HOST, OTHER, "127.0.0.1"], dir);
        let (log, creds) = (dir.join("moto-requests.jsonl"), dir.join("aws-creds.json"));
        let (stdout, stderr) = (dir.join("moto.out"), dir.join("moto.err"));
        let child = tokio::process::Command::new("python3")
            .arg(script("moto_server.py"))
            .args([&cert, &key, &ca.path, &log, &creds])
            .arg(format!("https://{HOST},https://{OTHER}"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let port = eventually("moto printing its port", WAIT, || {
            let text = std::fs::read_to_string(&stdout).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("listening on "))?
                .trim()
                .parse::<u16>()
                .ok()
        })
        .await;
        Moto {
            child,
            port,
            log,
            creds,
            stderr,
        }
    }

    pub(crate) fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(WAIT, self.child.wait()).await;
    }
}

/// What one run showed.
struct Run {
    steps: Map<String, Value>,
    /// Everything `keyward run` and the client printed.
    output: String,
    audit: Vec<Value>,
    audit_text: String,
}

/// Starts moto, then runs the client through `keyward run` with the rules.
async fn run(work: &Path, moto: &Moto, ca: &TestCa) -> Run {
    let rules = work.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    let yaml = RULES.replace("CREDS", &moto.creds.display().to_string());
    std::fs::write(rules.join("aws.yaml"), yaml).unwrap();
    std::fs::write(
        work.join("aws-config"),
        "[default]\ns3 =\n    addressing_style = path\n",
    )
    .unwrap();
    let audit = work.join("audit.jsonl");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.current_dir(work)
        .arg("run")
        .arg("--ca-dir")
        .arg(work.join("certs"))
        .arg("--rules")
        .arg(&rules)
        .arg("--upstream-ca")
        .arg(&ca.path)
        .arg("--audit-log")
        .arg(&audit);
    for host in [HOST, OTHER] {
        cmd.arg("--resolve")
            .arg(format!("{host}:443:127.0.0.1:{}", moto.port));
    }
    cmd.arg("--")
        .arg("python3")
        .arg(script("client.py"))
        .arg(format!("https://{HOST}"))
        .arg(format!("https://{OTHER}"));
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", work.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", work.join("no-credentials"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("the client finishes in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let output = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "keyward run failed:\n{output}");
    let steps = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|s| Some((s["step"].as_str()?.to_owned(), s.clone())))
        .collect();
    let audit_text = std::fs::read_to_string(&audit).unwrap_or_default();
    Run {
        steps,
        output,
        audit: audit_log::read(&audit),
        audit_text,
    }
}

/// The value a step returned, failing with its error otherwise.
fn value<'r>(run: &'r Run, step: &str) -> &'r Value {
    let s = run
        .steps
        .get(step)
        .unwrap_or_else(|| panic!("no step {step}:\n{}", run.output));
    assert!(
        s.get("error").is_none(),
        "step {step} failed: {}\n{}",
        s["error"],
        run.output
    );
    &s["value"]
}

/// The error a step ended with.
fn error<'r>(run: &'r Run, step: &str) -> &'r str {
    run.steps[step]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("step {step} should fail:\n{}", run.output))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_the_aws_cli_work_with_placeholder_keys_signed_again_by_keyward() {
    assert!(
        available(),
        "python3 with boto3, moto[server] and requests, and the aws CLI, are required (scripts/test installs them)"
    );
    let work = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let moto = Moto::start(&ca, work.path()).await;
    let real: Value = serde_json::from_str(&std::fs::read_to_string(&moto.creds).unwrap()).unwrap();
    let (real_id, real_secret) = (
        real["AccessKeyId"].as_str().unwrap().to_owned(),
        real["SecretAccessKey"].as_str().unwrap().to_owned(),
    );
    let run = run(work.path(), &moto, &ca).await;
    let moto_err = std::fs::read_to_string(&moto.stderr).unwrap_or_default();
    let requests = moto.requests();
    moto.stop().await;

    // The agent holds the placeholder pair, never the real one.
    let env = value(&run, "env");
    let agent_id = env["AWS_ACCESS_KEY_ID"].as_str().unwrap();
    assert!(agent_id.starts_with("KEYWARD"), "{env}");
    assert!(
        env["AWS_SECRET_ACCESS_KEY"]
            .as_str()
            .unwrap()
            .starts_with("keyward")
    );

    // boto3, through keyward, against moto that checks every signature.
    assert_eq!(value(&run, "create_bucket"), 200);
    assert_eq!(
        value(&run, "list_buckets"),
        &serde_json::json!(["agent-bucket"])
    );
    assert_eq!(value(&run, "put_object"), 200);
    assert_eq!(value(&run, "get_object"), "hello through keyward\n");
    assert!(
        value(&run, "caller_identity")
            .as_str()
            .unwrap()
            .ends_with(":user/agent"),
        "{}",
        run.output
    );
    assert_eq!(
        value(&run, "presigned_get"),
        &serde_json::json!([200, "hello through keyward\n"]),
        "moto: {moto_err}"
    );
    assert_eq!(value(&run, "cli_round_trip"), "from the aws cli");
    assert!(
        value(&run, "cli_caller_identity")
            .as_str()
            .unwrap()
            .ends_with(":user/agent")
    );
    let put = requests
        .iter()
        .find(|r| r["method"] == "PUT" && r["path"] == "/agent-bucket/notes/hello.txt")
        .expect("the upload reached moto");
    assert!(
        put["authorization"]
            .as_str()
            .unwrap()
            .contains(&format!("Credential={real_id}/")),
        "moto saw the real key id: {put}"
    );
    let audited_put = run
        .audit
        .iter()
        .find(|e| e["method"] == "PUT" && e["path"] == "/agent-bucket/notes/hello.txt")
        .unwrap_or_else(|| panic!("no audit entry for the upload:\n{}", run.audit_text));
    assert_eq!(
        audited_put["credentials"],
        serde_json::json!(["aws"]),
        "{audited_put}"
    );
    // boto3's default upload: aws-chunked with a trailing checksum.
    assert_eq!(
        put["content_sha256"], "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "{put}"
    );
    assert!(
        put["content_encoding"]
            .as_str()
            .unwrap()
            .contains("aws-chunked"),
        "{put}"
    );
    let presigned = requests
        .iter()
        .find(|r| r.get("presigned_signature_holds").is_some())
        .expect("the presigned GET reached moto");
    assert_eq!(presigned["presigned_signature_holds"], true, "{presigned}");

    // Signed aws-chunked: every chunk checked and signed again (moto's front checks the
    // real chain); with another secret key, refused.
    assert_eq!(value(&run, "signed_chunks_put"), 200);
    assert_eq!(value(&run, "signed_chunks_get"), "signed chunks\n");
    let chunked = requests
        .iter()
        .find(|r| r["path"] == "/agent-bucket/chunked.txt" && r["method"] == "PUT")
        .expect("the signed-chunk upload reached moto");
    assert_eq!(chunked["chunk_signatures_hold"], true, "{chunked}");
    assert_eq!(value(&run, "signed_chunks_forged"), 403);
    assert!(
        !requests
            .iter()
            .any(|r| r["path"] == "/agent-bucket/forged-chunks.txt"),
        "the forged chunked upload reached moto"
    );

    // Rules see the action: an STS call other than GetCallerIdentity is denied.
    assert!(
        error(&run, "session_token_denied").contains("denied"),
        "{}",
        run.output
    );

    // Signed with another secret key: refused as an exfiltration attempt, never forwarded.
    assert!(
        error(&run, "wrong_secret").contains("403"),
        "{}",
        run.output
    );
    let forged = run
        .audit
        .iter()
        .find(|e| e["path"] == "/forged-bucket")
        .unwrap_or_else(|| panic!("no audit entry for the forged request:\n{}", run.audit_text));
    assert_eq!(forged["decision"], "deny", "{forged}");
    let reason = forged["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("exfiltration attempt:")
            && reason.contains("does not match the request"),
        "{reason}"
    );
    // Sent to a host the secret is not bound to: refused, never forwarded.
    assert!(error(&run, "other_host").contains("403"), "{}", run.output);
    let elsewhere = run
        .audit
        .iter()
        .find(|e| e["host"] == OTHER)
        .unwrap_or_else(|| panic!("no audit entry for {OTHER}:\n{}", run.audit_text));
    assert!(
        elsewhere["reason"]
            .as_str()
            .unwrap()
            .contains("aws is not bound to other.keyward.test"),
        "{elsewhere}"
    );
    for bucket in ["/forged-bucket", "/elsewhere-bucket"] {
        assert!(
            !requests.iter().any(|r| r["path"] == bucket),
            "{bucket} reached moto: {requests:?}"
        );
    }
    let denied = run
        .audit
        .iter()
        .filter(|e| e["method"] == "POST" && e["decision"] == "deny");
    assert!(
        denied.count() >= 1,
        "the STS denial is audited:\n{}",
        run.audit_text
    );

    // The real secret key appears nowhere the agent or an operator's log could show it.
    let forms = [
        real_secret.clone(),
        base64::engine::general_purpose::STANDARD.encode(&real_secret),
        real_secret.bytes().map(|b| format!("{b:02x}")).collect(),
    ];
    for form in &forms {
        for (what, text) in [("output", &run.output), ("audit", &run.audit_text)] {
            assert!(
                !text.contains(form.as_str()),
                "the real secret key is in the {what}"
            );
        }
    }
    assert!(
        !run.output.contains(&real_id),
        "the real key id reached the agent"
    );
    assert!(
        !moto_err.contains(&real_secret),
        "moto's log is scanned too"
    );
}
