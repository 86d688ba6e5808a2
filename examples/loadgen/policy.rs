//! The rule set keyward runs with during the benchmark: a realistic policy of 50 rules
//! (most for other hosts, as in a real deployment), with body inspection, a credential
//! injected into every forwarded request and response redaction on the benchmarked routes
//! (JSON fields masked, a pattern set, and every known secret value).

use std::fmt::Write as _;
use std::path::Path;

use crate::client::HOST;

/// Rules in the realistic policy, the benchmarked host's included.
pub const RULES: usize = 50;
/// The secret keyward injects; the loadgen process hands it to keyward's environment only.
pub const SECRET_ENV: &str = "KEYWARD_BENCH_TOKEN";
/// Its value (the benchmark's own, worthless outside it).
pub const SECRET_VALUE: &str = "bench-token-3f9a1c7e5b2d4f6a8c0e";
/// The route the keep-alive and fixed-rate phases POST to.
pub const ITEMS_PATH: &str = "/v1/items";

/// The JSON body every benchmark request carries (~300 bytes), which `bench-items` inspects.
pub fn request_body() -> &'static str {
    r#"{"model":"bench-1","temperature":0.2,"messages":[{"role":"system","content":"You are a careful assistant."},{"role":"user","content":"List the items in the catalogue with a score above 40, newest first, as JSON."}],"metadata":{"agent":"loadgen","trace":"0af7651916cd43dd8448eb211c80319c"}}"#
}

/// How keyward is configured for the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// 50 rules, body inspection, injection, response redaction (the default).
    Realistic,
    /// `--allow bench.example` only: no rule inspects or redacts anything.
    AllowOnly,
}

/// Writes `rules/bench.yaml` under `dir` for `policy` (an empty rules directory for
/// `AllowOnly`).
pub fn write(dir: &Path, policy: Policy) -> anyhow::Result<()> {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules)?;
    if policy == Policy::Realistic {
        std::fs::write(rules.join("bench.yaml"), realistic())?;
    }
    Ok(())
}

fn realistic() -> String {
    let mut y = String::new();
    y.push_str(
        r#"patterns:
  secrets:
    - 'gh[pousr]_[A-Za-z0-9]{36,}'
    - 'github_pat_[A-Za-z0-9_]{22,}'
    - 'AKIA[0-9A-Z]{16}'
    - 'sk-[A-Za-z0-9_-]{20,}'
    - 'xox[abprs]-[A-Za-z0-9-]{10,}'
    - '-----BEGIN [A-Z ]*PRIVATE KEY-----'

secrets:
  bench:
"#,
    );
    let _ = writeln!(y, "    from: env:{SECRET_ENV}");
    let _ = writeln!(y, "    hosts: [{HOST}]");
    y.push_str("\nrules:\n");
    let _ = write!(
        y,
        r#"  - id: bench-admin
    url: https://{HOST}/admin/**
    decision: deny

  - id: bench-items
    method: POST
    url: https://{HOST}{ITEMS_PATH}
    body:
      max_size: 64KiB
      json:
        /model: {{ one_of: [bench-1, bench-2] }}
        /temperature: {{ min: 0, max: 2, optional: true }}
        /messages: {{ present: true, max_items: 32 }}
        /messages/*/role: {{ one_of: [system, user, assistant] }}
        /tools: {{ absent: true }}
      must_not_match: [secrets]
    inject: [bench]
    set_headers: {{ Authorization: "Bearer {{{{bench}}}}" }}
    response: {{ redact_json: [/model, /data/*/name], redact_patterns: [secrets] }}
    decision: allow

  - id: bench-read
    method: [GET, HEAD]
    url: https://{HOST}/**
    inject: [bench]
    set_headers: {{ Authorization: "Bearer {{{{bench}}}}" }}
    response: {{ redact_patterns: [secrets] }}
    decision: allow
"#
    );
    // The other 47: the kinds of rules a deployment has for its other services.
    for i in 0..RULES - 3 {
        let host = format!("svc-{:02}.internal.example", i % 16);
        let rule = match i % 4 {
            0 => format!(
                "  - id: svc-{i}-read\n    method: [GET, HEAD]\n    url: https://{host}/api/v{}/**\n    query: {{ per_page: {{ max: 100, optional: true }} }}\n    decision: allow\n",
                i % 3 + 1
            ),
            1 => format!(
                "  - id: svc-{i}-create\n    method: POST\n    url: https://{host}/api/projects/{{project}}/tasks\n    captures: {{ project: {{ regex: '^[a-z][a-z0-9-]{{2,30}}$' }} }}\n    body:\n      json:\n        /title: {{ present: true, max_len: 200 }}\n        /priority: {{ one_of: [low, normal, high] }}\n      must_not_match: [secrets]\n    decision: allow\n"
            ),
            2 => format!(
                "  - id: svc-{i}-no-deletes\n    method: DELETE\n    url: https://{host}/**\n    decision: deny\n"
            ),
            _ => format!(
                "  - id: svc-{i}-versioned\n    method: [PUT, PATCH]\n    url: https://{host}/api/v2/{{kind}}/*\n    captures: {{ kind: {{ one_of: [users, teams, repos] }} }}\n    headers: {{ X-Api-Version: {{ equals: \"2024-06-01\" }} }}\n    decision: allow\n"
            ),
        };
        y.push('\n');
        y.push_str(&rule);
    }
    y
}
