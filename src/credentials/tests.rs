//! Unit tests of injection and the exfiltration guard on request parts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::Request;
use http::header::HeaderName;

use super::source::{EnvSource, ExecSource, FileSource};
use super::*;
use crate::policy::extras::{HeaderTemplate, parse_template};

const GITHUB_VALUE: &str = "ghp_unit_test_value_0123456789";
const GITHUB_PH: &str = "keyward:github:7f3c9a1e5b2d4c8e";
const SLACK_PH: &str = "keyward:slack:0a1b2c3d4e5f6a7b";

fn store(dir: &std::path::Path) -> CredentialStore {
    let file = dir.join("github");
    std::fs::write(&file, GITHUB_VALUE).unwrap();
    CredentialStore::new(vec![
        Credential {
            name: SecretName::new("github"),
            source: Box::new(FileSource::new(file)),
            placeholder: Placeholder(GITHUB_PH.into()),
            env_var: Some("GITHUB_TOKEN".into()),
            hosts: vec![
                HostPattern::parse("api.github.com").unwrap(),
                HostPattern::parse("github.com").unwrap(),
            ],
            scope: Scope::default(),
            aws: None,
        },
        Credential {
            name: SecretName::new("slack"),
            source: Box::new(EnvSource("KEYWARD_TEST_UNSET_SLACK".into())),
            placeholder: Placeholder(SLACK_PH.into()),
            env_var: None,
            hosts: vec![HostPattern::parse("slack.com").unwrap()],
            scope: Scope::default(),
            aws: None,
        },
    ])
}

fn parts(req: Request<()>) -> http::request::Parts {
    req.into_parts().0
}

fn github() -> Vec<SecretName> {
    vec![SecretName::new("github")]
}

#[tokio::test]
async fn placeholders_in_headers_basic_auth_query_and_body_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let basic = STANDARD.encode(format!("x-access-token:{GITHUB_PH}"));
    let mut p = parts(
        Request::post(format!(
            "https://api.github.com/x?token={GITHUB_PH}&enc=keyward%3Agithub%3A7f3c9a1e5b2d4c8e"
        ))
        .header("authorization", format!("Basic {basic}"))
        .header("x-token", format!("token {GITHUB_PH}"))
        .header("content-type", "application/json")
        .header("content-length", "40")
        .body(())
        .unwrap(),
    );
    let mut body = Bytes::from(format!("{{\"t\":\"{GITHUB_PH}\"}}"));
    let injected = inject(&store, &github(), &[], &mut p, Some(&mut body), &[])
        .await
        .unwrap();
    assert_eq!(injected.names, github());
    let auth = p.headers["authorization"].to_str().unwrap();
    let decoded = STANDARD
        .decode(auth.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(decoded, format!("x-access-token:{GITHUB_VALUE}").as_bytes());
    assert_eq!(
        p.headers["x-token"],
        format!("token {GITHUB_VALUE}").as_str()
    );
    assert!(p.headers["x-token"].is_sensitive());
    assert_eq!(
        p.uri.query().unwrap(),
        format!("token={GITHUB_VALUE}&enc={GITHUB_VALUE}")
    );
    assert_eq!(body, format!("{{\"t\":\"{GITHUB_VALUE}\"}}"));
    assert_eq!(p.headers["content-length"], body.len().to_string().as_str());
    let guard = ExfilGuard {
        store: &store,
        segments: &[],
    };
    assert_eq!(guard.check(&p, Some(&body), "api.github.com", true), Ok(()));
}

#[tokio::test]
async fn set_header_template_needs_no_placeholder_from_the_agent() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut p = parts(
        Request::get("https://api.github.com/user")
            .body(())
            .unwrap(),
    );
    let set = vec![HeaderTemplate {
        name: HeaderName::from_static("authorization"),
        parts: parse_template("Bearer {{github}}").unwrap(),
    }];
    let injected = inject(&store, &[], &set, &mut p, None, &[]).await.unwrap();
    assert_eq!(injected.names, github());
    assert_eq!(
        p.headers["authorization"],
        format!("Bearer {GITHUB_VALUE}").as_str()
    );
}

#[tokio::test]
async fn failing_sources_fail_closed_without_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let mut p = parts(Request::get("https://slack.com/api").body(()).unwrap());
    let err = inject(&store, &[SecretName::new("slack")], &[], &mut p, None, &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("KEYWARD_TEST_UNSET_SLACK"),
        "{err}"
    );
    let exec = CredentialStore::new(vec![Credential {
        name: SecretName::new("vault"),
        source: Box::new(ExecSource::new(
            vec!["false".into()],
            std::time::Duration::from_secs(60),
        )),
        placeholder: Placeholder("keyward:vault:1234567890abcdef".into()),
        env_var: None,
        hosts: vec![],
        scope: Scope::default(),
        aws: None,
    }]);
    let err = inject(&exec, &[SecretName::new("vault")], &[], &mut p, None, &[])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("secret vault is unavailable"),
        "{err}"
    );
}

#[test]
fn guard_refuses_placeholders_for_unbound_hosts_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let guard = ExfilGuard {
        store: &store,
        segments: &[],
    };
    let unbound = |e: Result<(), Exfiltration>| matches!(e, Err(Exfiltration::Unbound { .. }));
    let header = parts(
        Request::get("https://evil.example/")
            .header("x-api-key", GITHUB_PH)
            .body(())
            .unwrap(),
    );
    assert!(unbound(guard.check(&header, None, "evil.example", true)));
    let query = parts(
        Request::get("https://evil.example/?q=keyward%3Agithub%3A7f3c9a1e5b2d4c8e")
            .body(())
            .unwrap(),
    );
    assert!(unbound(guard.check(&query, None, "evil.example", true)));
    let basic = STANDARD.encode(format!("u:{GITHUB_PH}"));
    let auth = parts(
        Request::get("https://evil.example/")
            .header("authorization", format!("Basic {basic}"))
            .body(())
            .unwrap(),
    );
    assert!(unbound(guard.check(&auth, None, "evil.example", true)));
    let body_b64 = STANDARD.encode(format!("prefix {GITHUB_PH} suffix"));
    let plain = parts(
        Request::post("https://evil.example/upload")
            .body(())
            .unwrap(),
    );
    assert!(unbound(guard.check(
        &plain,
        Some(body_b64.as_bytes()),
        "evil.example",
        true
    )));
    assert!(unbound(guard.check(
        &plain,
        Some(GITHUB_PH.as_bytes()),
        "evil.example",
        true
    )));
}

#[test]
fn guard_refuses_plain_http_and_bound_but_not_injected() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let guard = ExfilGuard {
        store: &store,
        segments: &[],
    };
    let p = parts(
        Request::get("http://api.github.com/")
            .header("authorization", format!("token {GITHUB_PH}"))
            .body(())
            .unwrap(),
    );
    assert!(matches!(
        guard.check(&p, None, "api.github.com", false),
        Err(Exfiltration::PlainHttp { .. })
    ));
    assert!(matches!(
        guard.check(&p, None, "api.github.com", true),
        Err(Exfiltration::NotInjected { .. })
    ));
    let clean = parts(Request::get("https://api.github.com/").body(()).unwrap());
    assert_eq!(
        guard.check(&clean, Some(b"no placeholders"), "api.github.com", true),
        Ok(())
    );
}

#[test]
fn secrets_are_bound_to_exact_hosts_and_subdomain_patterns_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let github = store.get(&SecretName::new("github")).unwrap();
    assert!(github.bound_to("API.GitHub.com."));
    assert!(!github.bound_to("api.github.com.evil.example"));
    let wild = Credential {
        name: SecretName::new("w"),
        source: Box::new(EnvSource("X".into())),
        placeholder: Placeholder("keyward:w:0011223344556677".into()),
        env_var: None,
        hosts: vec![HostPattern::parse("*.github.com").unwrap()],
        scope: Scope::default(),
        aws: None,
    };
    assert!(wild.bound_to("api.github.com"));
    assert!(!wild.bound_to("github.com"));
    assert!(!wild.bound_to("evilgithub.com"));
}

#[tokio::test]
async fn only_headers_holding_a_placeholder_are_rewritten_every_occurrence_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let clean_basic = format!("Basic {}", STANDARD.encode("user:no-placeholder"));
    let mut p = parts(
        Request::get("https://api.github.com/x")
            .header("x-multi", "first")
            .header("x-multi", format!("{GITHUB_PH}/{GITHUB_PH}"))
            .header("x-multi", "last")
            .header("authorization", clean_basic.as_str())
            .header("x-clean", "keyward:github:not-this-one")
            .body(())
            .unwrap(),
    );
    let injected = inject(&store, &github(), &[], &mut p, None, &[])
        .await
        .unwrap();
    assert_eq!(injected.names, github());
    let multi: Vec<_> = p
        .headers
        .get_all("x-multi")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        multi,
        ["first", &format!("{GITHUB_VALUE}/{GITHUB_VALUE}"), "last"]
    );
    assert!(
        !p.headers["x-multi"].is_sensitive(),
        "an untouched value keeps its flags"
    );
    assert_eq!(p.headers["authorization"], clean_basic.as_str());
    assert_eq!(p.headers["x-clean"], "keyward:github:not-this-one");
    assert_eq!(p.headers.len(), 5);
}

#[test]
fn replace_all_replaces_every_non_overlapping_occurrence() {
    assert_eq!(
        super::inject::replace_all(b"aXbXXc", b"X", b"yy"),
        Some(b"ayybyyyyc".to_vec())
    );
    assert_eq!(
        super::inject::replace_all(b"aaaa", b"aa", b"b"),
        Some(b"bb".to_vec())
    );
    assert_eq!(super::inject::replace_all(b"abc", b"abcd", b"z"), None);
    assert_eq!(super::inject::replace_all(b"abc", b"", b"z"), None);
    assert_eq!(super::inject::replace_all(b"", b"a", b"z"), None);
}
