//! Integration tests: real keyward on 127.0.0.1:0, real HTTPS upstreams with a test CA,
//! real clients. One binary, shared helpers in `support`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "support code outside #[test] functions stops a test on a failed setup step and prints skip notes"
)]
#![expect(dead_code, reason = "not every test uses every support helper")]

mod support;

mod actions_check;
mod actions_import;
mod actions_mcp;
mod actions_mcp_listener;
mod actions_mcp_stdio;
mod actions_terms;
mod admin_auth;
mod adoption;
mod approvals;
mod audit_backpressure;
mod audit_checkpoints;
mod audit_disconnects;
mod audit_export;
mod audit_paths;
mod audit_shutdown;
mod aws_sigv4;
mod cli;
mod clients;
mod console;
mod console_guard;
mod console_screenshot;
mod deploy;
mod deploy_kube;
mod deploy_units;
mod dns;
mod exhaustion;
mod fuzz_properties;
mod graphql;
mod h2_abuse;
mod head_refusals;
mod injection;

mod inspection;
mod jail;
mod kill_switch;
mod kube_volumes;
mod leak;
mod learn;
mod limits;
mod llm_budgets;
mod mcp;
mod mcp_legacy_sse;
mod mcp_replies;
mod mcp_sdk;
mod oauth2;
mod path_spellings;
mod path_tricks;
mod plain_http;
mod private_destinations;
mod redaction;
mod replicas;
mod replicas_auth;
mod replicas_counters;
mod replicas_failures;
mod rules;
mod runtime;
mod secret_managers;
mod secret_scope;
mod signing;
mod smuggling;
mod soak;
mod streaming;
mod transparent;
mod tunnel;
mod upstream_failures;
mod upstream_framing;
mod websocket;
mod websocket_mcp;
