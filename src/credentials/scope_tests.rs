//! Unit tests of secrets' `methods:`/`paths:`: injected only inside them, refused as
//! exfiltration elsewhere, and a template naming an out-of-scope secret refuses the request.

use http::header::HeaderName;
use http::{Method, Request};

use super::source::FileSource;
use super::*;
use crate::policy::extras::{HeaderTemplate, parse_template};
use crate::policy::url_pattern::PathPattern;

const VALUE: &str = "ghp_scoped_unit_value_0123456789";
const PH: &str = "keyward:github:5c0pe5c0pe5c0pe5";

fn scoped_store(dir: &std::path::Path) -> CredentialStore {
    let file = dir.join("github");
    std::fs::write(&file, VALUE).unwrap();
    CredentialStore::new(vec![Credential {
        name: SecretName::new("github"),
        source: Box::new(FileSource::new(file)),
        placeholder: Placeholder(PH.into()),
        env_var: None,
        hosts: vec![HostPattern::parse("api.github.com").unwrap()],
        scope: Scope {
            methods: Some(vec![Method::GET]),
            paths: Some(vec![PathPattern::parse("/repos/**").unwrap()]),
        },
        aws: None,
    }])
}

fn segs(path: &str) -> Vec<String> {
    path[1..].split('/').map(str::to_owned).collect()
}

/// Injects `github` into `method path` with the placeholder in a header, then guards.
async fn send(method: Method, path: &str) -> (http::request::Parts, Result<(), Exfiltration>) {
    let dir = tempfile::tempdir().unwrap();
    let store = scoped_store(dir.path());
    let mut p = Request::builder()
        .method(method)
        .uri(format!("https://api.github.com{path}"))
        .header("authorization", format!("token {PH}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let segments = segs(path);
    let names = [SecretName::new("github")];
    inject(&store, &names, &[], &mut p, None, &segments)
        .await
        .unwrap();
    let guard = ExfilGuard {
        store: &store,
        segments: &segments,
    };
    let verdict = guard.check(&p, None, "api.github.com", true);
    (p, verdict)
}

#[tokio::test]
async fn a_request_inside_methods_and_paths_gets_the_value() {
    let (p, verdict) = send(Method::GET, "/repos/acme/kw").await;
    assert_eq!(verdict, Ok(()));
    assert_eq!(
        p.headers["authorization"],
        format!("token {VALUE}").as_str()
    );
}

#[tokio::test]
async fn another_method_keeps_the_placeholder_and_is_refused_naming_the_method() {
    let (p, verdict) = send(Method::DELETE, "/repos/acme/kw").await;
    assert_eq!(p.headers["authorization"], format!("token {PH}").as_str());
    let err = verdict.unwrap_err();
    assert!(matches!(err, Exfiltration::OutOfScope { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "credential not allowed for this request (github: method DELETE is not in its methods: GET)"
    );
}

#[tokio::test]
async fn another_path_keeps_the_placeholder_and_is_refused_naming_the_path() {
    let (p, verdict) = send(Method::GET, "/user/keys").await;
    assert_eq!(p.headers["authorization"], format!("token {PH}").as_str());
    let err = verdict.unwrap_err().to_string();
    assert_eq!(
        err,
        "credential not allowed for this request (github: path /user/keys is not in its paths: /repos/**)"
    );
    assert!(!err.contains(VALUE));
    // `//repos/x`: a server merging slashes reads /repos/x, the strict reading is not.
    let (_, verdict) = send(Method::GET, "//repos/x").await;
    assert!(verdict.is_err());
}

#[tokio::test]
async fn a_template_naming_an_out_of_scope_secret_refuses_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = scoped_store(dir.path());
    let set = vec![HeaderTemplate {
        name: HeaderName::from_static("authorization"),
        parts: parse_template("Bearer {{github}}").unwrap(),
    }];
    let names = [SecretName::new("github")];
    let mut p = Request::post("https://api.github.com/repos/x")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let err = inject(&store, &names, &set, &mut p, None, &segs("/repos/x"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("github: method POST is not in its methods: GET"),
        "{err}"
    );
    assert!(p.headers.get("authorization").is_none(), "nothing was set");
    let mut ok = Request::get("https://api.github.com/repos/x")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    inject(&store, &names, &set, &mut ok, None, &segs("/repos/x"))
        .await
        .unwrap();
    assert_eq!(
        ok.headers["authorization"],
        format!("Bearer {VALUE}").as_str()
    );
}

#[tokio::test]
async fn a_placeholder_for_another_host_is_still_refused_as_unbound() {
    let dir = tempfile::tempdir().unwrap();
    let store = scoped_store(dir.path());
    let p = Request::get("https://evil.example/repos/x")
        .header("x", PH)
        .body(())
        .unwrap()
        .into_parts()
        .0;
    let segments = segs("/repos/x");
    let guard = ExfilGuard {
        store: &store,
        segments: &segments,
    };
    assert!(matches!(
        guard.check(&p, None, "evil.example", true),
        Err(Exfiltration::Unbound { .. })
    ));
}
