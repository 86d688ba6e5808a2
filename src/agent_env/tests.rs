//! Unit tests of the agent environment: every variable the runtimes read, the bundle for
//! store-replacing variables, the CA alone for additive ones, placeholders under the names
//! the rules give, and secret source variables listed for removal.

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::control::rules_in_force::RulesInForce;

const RULES: &str = r#"
secrets:
  github:
    from: env:KEYWARD_TEST_GITHUB_SOURCE
    placeholder: keyward:github:7f3c9a1e5b2d4c8e
    env: GITHUB_TOKEN
    hosts: [api.github.com]
  slack:
    from: file:/nonexistent/slack
    env: SLACK_TOKEN
    hosts: [slack.com]
  quiet:
    from: env:QUIET_SOURCE
    hosts: [quiet.example]
"#;

fn active() -> (tempfile::TempDir, RulesInForce) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secrets.yaml"), RULES).unwrap();
    let active = RulesInForce::load(dir.path(), Vec::new(), [7; 32]).unwrap();
    (dir, active)
}

fn env_map(no_proxy: Option<&str>) -> HashMap<String, String> {
    let (_dir, rules) = active();
    let current = rules.current();
    agent_env(
        "http://127.0.0.1:4000",
        Path::new("/k/ca.pem"),
        Path::new("/k/bundle.pem"),
        no_proxy,
        &current.credentials,
    )
    .into_iter()
    .collect()
}

#[test]
fn proxies_in_both_cases() {
    let env = env_map(None);
    for var in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        assert_eq!(env[var], "http://127.0.0.1:4000", "{var}");
    }
}

#[test]
fn no_proxy_is_emptied_unless_given() {
    let env = env_map(None);
    assert_eq!(env["NO_PROXY"], "");
    assert_eq!(env["no_proxy"], "");
    let env = env_map(Some("localhost,.internal"));
    assert_eq!(env["NO_PROXY"], "localhost,.internal");
    assert_eq!(env["no_proxy"], "localhost,.internal");
}

#[test]
fn store_replacing_variables_get_the_bundle() {
    let env = env_map(None);
    for var in [
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "PIP_CERT",
        "AWS_CA_BUNDLE",
        "GIT_SSL_CAINFO",
        "CARGO_HTTP_CAINFO",
    ] {
        assert_eq!(env[var], "/k/bundle.pem", "{var}");
    }
}

#[test]
fn additive_variables_get_the_ca_alone() {
    let env = env_map(None);
    assert_eq!(env["NODE_EXTRA_CA_CERTS"], "/k/ca.pem");
    assert_eq!(env["DENO_CERT"], "/k/ca.pem");
    assert_eq!(env["NODE_USE_ENV_PROXY"], "1");
}

#[test]
fn placeholders_under_the_names_the_rules_give() {
    let env = env_map(None);
    assert_eq!(env["GITHUB_TOKEN"], "keyward:github:7f3c9a1e5b2d4c8e");
    // No placeholder written: the one derived from the CA seed.
    assert_eq!(
        env["SLACK_TOKEN"],
        crate::control::rules_in_force::default_placeholder(&[7; 32], "slack")
    );
    assert!(
        !env.values().any(|v| v.contains("quiet")),
        "a secret without env: sets nothing"
    );
}

#[test]
fn env_sources_are_listed_for_removal() {
    let (_dir, rules) = active();
    let vars = secret_source_vars(&rules.current().rules);
    assert_eq!(vars, ["KEYWARD_TEST_GITHUB_SOURCE", "QUIET_SOURCE"]);
}

#[test]
fn every_name_renders_in_every_format() {
    let env: Vec<(String, String)> = env_map(None).into_iter().collect();
    for format in [
        EnvFormat::Sh,
        EnvFormat::Fish,
        EnvFormat::Dotenv,
        EnvFormat::Docker,
        EnvFormat::Json,
    ] {
        render(format, &env).unwrap();
    }
}

#[test]
fn an_aws_secret_gives_its_placeholder_key_pair_and_session_token() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "secrets:\n  aws:\n    kind: aws\n    from: env:KEYWARD_TEST_AWS_KEYS\n    hosts: [\"*.amazonaws.com\"]\n";
    std::fs::write(dir.path().join("aws.yaml"), rules).unwrap();
    let active = RulesInForce::load(dir.path(), Vec::new(), [7; 32]).unwrap();
    let current = active.current();
    let env: HashMap<String, String> = agent_env(
        "http://127.0.0.1:4000",
        Path::new("/k/ca.pem"),
        Path::new("/k/bundle.pem"),
        None,
        &current.credentials,
    )
    .into_iter()
    .collect();
    let id = &env["AWS_ACCESS_KEY_ID"];
    assert!(id.starts_with("KEYWARD") && id.len() == 20, "{id}");
    assert!(env["AWS_SECRET_ACCESS_KEY"].starts_with("keyward"));
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"].len(), 40);
    assert!(env["AWS_SESSION_TOKEN"].starts_with("keyward-session-"));
    assert_eq!(
        secret_source_vars(&current.rules),
        vec!["KEYWARD_TEST_AWS_KEYS".to_owned()]
    );
}
