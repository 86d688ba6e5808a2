//! LLM token budgets through the real proxy: a fake OpenAI and a fake Anthropic (HTTPS test
//! upstreams answering in JSON and in streamed SSE with usage), driven by the official
//! Python SDKs; the audit entries and metrics carry the reported tokens, and once a budget
//! is spent the SDK gets a 429 with `Retry-After` that never reached the provider. Also: a
//! response under a budget that reports no usage passes on and is audited with a warning,
//! and `keyward check` on bad budgets; agents and streams in `agents`.

mod agents;

use std::process::Command;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use crate::runtime::admin;
use crate::support::Harness;
use crate::support::agent::Proto;
use crate::support::audit_log;
use crate::support::llm_providers::providers;

const RULES: &str = r#"
rules:
  - id: openai-chat
    method: POST
    url: https://api.openai.com/v1/chat/completions
    limits: { tokens: 40/day }
    decision: allow
  - id: openai-responses
    method: POST
    url: https://api.openai.com/v1/responses
    decision: allow
  - id: openai-files
    url: https://api.openai.com/v1/files
    limits: { tokens: 1k/hour }
    decision: allow
  - id: anthropic-messages
    method: POST
    url: https://api.anthropic.com/v1/messages
    limits: { tokens: 1150/hour, per: rule }
    decision: allow
"#;

async fn start() -> crate::support::harness::Running {
    Harness::new()
        .upstream(&["api.openai.com"], providers())
        .upstream(&["api.anthropic.com"], providers())
        .rules("llm.yaml", RULES)
        .start()
        .await
}

fn python_has_sdks() -> bool {
    Command::new("python3")
        .args(["-c", "import openai, anthropic"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One line of the metrics text, e.g. `keyward_llm_tokens_total{direction="input",rule="openai-chat",agent=""}`.
fn metric(text: &str, labels: &str) -> Option<u64> {
    let name = format!("keyward_llm_tokens_total{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&name))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn sdks_spend_their_budgets_and_are_refused_with_retry_after() {
    assert!(
        python_has_sdks(),
        "python3 with the openai and anthropic packages is required (scripts/test installs them)"
    );
    let h = start().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/support/llm/sdk_calls.py"
    );
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg(&h.keyward.ca_path)
        .env("HTTPS_PROXY", h.keyward.proxy_url())
        .env("SSL_CERT_FILE", &h.keyward.ca_path)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("ANTHROPIC_BASE_URL");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len(), 6, "{stdout}");
    let [
        oa_plain,
        oa_stream,
        oa_refused,
        an_plain,
        an_stream,
        an_refused,
    ] = &calls[..]
    else {
        panic!("six calls: {stdout}")
    };
    assert_eq!(
        (&oa_plain["text"], &oa_plain["input"], &oa_plain["output"]),
        (&json!("Hi there"), &json!(12), &json!(5))
    );
    assert_eq!(
        (
            &oa_stream["text"],
            &oa_stream["input"],
            &oa_stream["output"]
        ),
        (&json!("Hi stream"), &json!(20), &json!(7))
    );
    assert_eq!(
        (&an_plain["text"], &an_plain["input"], &an_plain["output"]),
        (&json!("Hi there"), &json!(10), &json!(6))
    );
    assert_eq!(
        (&an_stream["text"], &an_stream["output"]),
        (&json!("Hi stream"), &json!(15))
    );

    // 17 + 27 tokens of 40/day: the overspend of 4 plus one token (2160 s) to wait.
    assert_eq!(oa_refused["status"], 429, "{oa_refused}");
    let wait: u64 = oa_refused["retry_after"].as_str().unwrap().parse().unwrap();
    assert!((10_790..=10_800).contains(&wait), "{oa_refused}");
    assert_eq!(oa_refused["body"]["rule"], "openai-chat");
    assert_eq!(oa_refused["body"]["reason"], "token budget spent");
    // 1116 + 45 tokens of 1150/hour.
    assert_eq!(an_refused["status"], 429, "{an_refused}");
    assert_eq!(an_refused["body"]["rule"], "anthropic-messages");
    let wait: u64 = an_refused["retry_after"].as_str().unwrap().parse().unwrap();
    assert!((1..=40).contains(&wait), "{an_refused}");
    // The refused requests never reached the providers.
    assert_eq!(h.upstreams[0].count(), 2);
    assert_eq!(h.upstreams[1].count(), 2);

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let path = h.keyward.audit_path();
    let entries = audit_log::wait_for(&audit, &path, 6, |e| {
        e["rule"] == "openai-chat" || e["rule"] == "anthropic-messages"
    })
    .await;
    let tokens = |rule: &str| -> Vec<(Value, Value, Value)> {
        entries
            .iter()
            .filter(|e| e["rule"] == rule)
            .map(|e| {
                (
                    e["decision"].clone(),
                    e["tokens_in"].clone(),
                    e["tokens_out"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        tokens("openai-chat"),
        vec![
            (json!("allow"), json!(12), json!(5)),
            (json!("allow"), json!(20), json!(7)),
            (json!("rate_limited"), Value::Null, Value::Null),
        ]
    );
    assert_eq!(
        tokens("anthropic-messages"),
        vec![
            (json!("allow"), json!(1110), json!(6)),
            (json!("allow"), json!(30), json!(15)),
            (json!("rate_limited"), Value::Null, Value::Null),
        ]
    );
    assert!(entries.iter().all(|e| e.get("usage_warning").is_none()));
    audit_log::verify(&path);

    let (status, text) = admin(h.admin(), "GET", "/metrics", "").await;
    assert_eq!(status, StatusCode::OK);
    for (labels, want) in [
        (r#"direction="input",rule="openai-chat",agent="""#, 32),
        (r#"direction="output",rule="openai-chat",agent="""#, 12),
        (
            r#"direction="input",rule="anthropic-messages",agent="""#,
            1140,
        ),
        (
            r#"direction="output",rule="anthropic-messages",agent="""#,
            21,
        ),
    ] {
        assert_eq!(metric(&text, labels), Some(want), "{labels}\n{text}");
    }
}

/// Answers to the Responses API, JSON and streamed (over h2), are read for usage without
/// any budget (the path says what it is); an answer under a budget that reports no usage
/// passes on whole and its entry says why nothing was counted.
#[tokio::test]
async fn usage_is_read_by_path_and_missing_usage_under_a_budget_is_a_warning() {
    let h = start().await;
    let agent = h.agent();
    let post = |url: &str, body: &str| {
        Request::post(url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap()
    };
    let reply = agent
        .send(
            Proto::H1,
            post(
                "https://api.openai.com/v1/responses",
                r#"{"model":"gpt","input":"hi"}"#,
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["usage"]["input_tokens"], 31);
    let reply = agent
        .send(
            Proto::H2,
            post(
                "https://api.openai.com/v1/responses",
                r#"{"model":"gpt","input":"hi","stream":true}"#,
            ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&reply.body).contains("response.completed"));
    let reply = agent
        .get(Proto::H1, "https://api.openai.com/v1/files")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"data": [], "object": "list"}));

    let audit = h.keyward.running.handles().audit().unwrap().clone();
    let path = h.keyward.audit_path();
    let entries = audit_log::wait_for(&audit, &path, 3, |e| e["decision"] == "allow").await;
    let responses: Vec<(Value, Value)> = entries
        .iter()
        .filter(|e| e["rule"] == "openai-responses")
        .map(|e| (e["tokens_in"].clone(), e["tokens_out"].clone()))
        .collect();
    assert_eq!(
        responses,
        vec![(json!(31), json!(4)), (json!(40), json!(11))],
        "JSON, then SSE"
    );
    assert!(
        entries
            .iter()
            .all(|e| e.get("usage_warning").is_none() || e["rule"] == "openai-files")
    );
    let files = entries
        .iter()
        .find(|e| e["rule"] == "openai-files")
        .unwrap();
    assert_eq!(files["usage_warning"], "response reported no usage");
    assert!(files.get("tokens_in").is_none());
}

/// `keyward check` reports a bad token budget with its file, line and column, and exits 1.
#[test]
fn check_points_at_a_bad_token_budget() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("llm.yaml"),
        "rules:\n  - id: chat\n    url: https://api.openai.com/v1/chat/completions\n    limits: { tokens: lots }\n    decision: allow\n  - id: msgs\n    url: https://api.anthropic.com/v1/messages\n    limits: { tokens: 100k/fortnight }\n    decision: allow\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["check", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "llm.yaml:4:23: invalid token budget `lots` (e.g. 2M/day, 100k/hour, 50000/15m)"
        ),
        "{text}"
    );
    assert!(
        text.contains("llm.yaml:8:23: invalid token budget `100k/fortnight`: unknown time unit"),
        "{text}"
    );
}
