//! Rendering: templates filled from inputs, and every injection attempt kept inside its
//! segment, query value or header, as keyward's own normaliser reads the result.

use serde_json::{Value, json};

use crate::actions::testing::action;
use crate::actions::{Action, CallError, RenderError};
use crate::policy::normalize_target;

/// `POST https://api.github.com/repos/{owner}/{repo}/issues?state={state}` with headers
/// and a body; `repo` is a free string so that hostile values reach the renderer.
fn issue() -> Action {
    action(
        "      type: object
      required: [owner, repo, title]
      properties:
        owner: {type: string}
        repo: {type: string}
        title: {type: string}
        state: {type: string}
        trace: {type: string}
        labels: {type: array, items: {type: string}}
        count: {type: integer}",
        "https://api.github.com/repos/{owner}/{repo}/issues?state={state}&per_page=5",
        "      headers:
        X-Trace: 'id-{trace}'
        Accept: application/vnd.github+json
      body:
        title: '{title}'
        summary: 'Issue: {title}'
        labels: '{labels}'
        count: '{count}'
        fixed: [1, true, null]",
    )
}

fn build(input: Value) -> Result<http::Request<bytes::Bytes>, CallError> {
    issue().build(&input)
}

fn body(request: &http::Request<bytes::Bytes>) -> Value {
    serde_json::from_slice(request.body()).unwrap()
}

#[test]
fn a_call_becomes_its_templated_request() {
    let request = build(json!({"owner": "acme", "repo": "widgets", "title": "Hi",
        "state": "open", "trace": "7", "labels": ["bug"], "count": 2}))
    .unwrap();
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri(),
        "https://api.github.com/repos/acme/widgets/issues?state=open&per_page=5"
    );
    assert_eq!(request.headers()["x-trace"], "id-7");
    assert_eq!(request.headers()["accept"], "application/vnd.github+json");
    assert_eq!(request.headers()["content-type"], "application/json");
    assert_eq!(
        body(&request),
        json!({"title": "Hi", "summary": "Issue: Hi", "labels": ["bug"], "count": 2,
            "fixed": [1, true, null]})
    );
}

#[test]
fn absent_optional_parameters_leave_out_their_query_pair_header_and_body_field() {
    let request = build(json!({"owner": "acme", "repo": "widgets", "title": "Hi"})).unwrap();
    assert_eq!(
        request.uri(),
        "https://api.github.com/repos/acme/widgets/issues?per_page=5"
    );
    assert!(request.headers().get("x-trace").is_none());
    assert_eq!(
        body(&request),
        json!({"title": "Hi", "summary": "Issue: Hi", "fixed": [1, true, null]})
    );
}

#[test]
fn body_values_keep_their_json_type_and_strings_are_json_encoded() {
    let title = "a\"b\\c\n</script>{\"x\":1}";
    let request = build(json!({"owner": "acme", "repo": "w", "title": title})).unwrap();
    let sent = body(&request);
    assert_eq!(sent["title"], title);
    assert_eq!(sent["summary"], format!("Issue: {title}"));
    assert!(sent.get("x").is_none());
}

/// Hostile `repo` values: the rendered path must keep `repos/acme/<value>/issues`.
const PATH_ATTEMPTS: &[&str] = &[
    "x?admin=1",
    "x#frag",
    "a b",
    "ünïcødé☃",
    "x\r\nHost: evil",
    "x\u{0}y",
    "%41",
    "x&state=closed",
    "@evil.example",
    "x:y",
];

#[test]
fn path_parameters_stay_one_segment_as_the_normaliser_reads_them() {
    for &value in PATH_ATTEMPTS {
        let request = build(json!({"owner": "acme", "repo": value, "title": "t"}))
            .unwrap_or_else(|e| panic!("{value:?}: {e}"));
        let uri = request.uri();
        assert_eq!(uri.host(), Some("api.github.com"), "{value:?}");
        assert_eq!(
            uri.query(),
            Some("per_page=5"),
            "{value:?} changed the query"
        );
        let target = normalize_target("api.github.com", 443, uri.path()).unwrap();
        assert_eq!(
            target.segments,
            vec!["repos", "acme", value, "issues"],
            "{value:?} -> {uri}"
        );
    }
}

#[test]
fn values_that_would_leave_their_segment_are_refused() {
    for value in [
        "../../orgs/acme",
        "..",
        ".",
        "",
        "a/b",
        "%2F",
        "..%2F",
        "%2e%2e",
        // `;` reads as a path parameter to some servers: the proxy refuses it too.
        "x;y",
        "a\\b",
    ] {
        let err = build(json!({"owner": "acme", "repo": value, "title": "t"})).unwrap_err();
        assert!(
            matches!(&err, CallError::Render(RenderError::Segment { param, .. }) if param == "repo"),
            "{value:?}: {err}"
        );
    }
}

#[test]
fn an_encoded_slash_is_escaped_again_never_decoded() {
    // `%2F` is sent as `%252F`; the normaliser then refuses it as a double encoding, so
    // no reading of the path can see a slash there.
    let action = issue();
    let url = &action.request().url;
    let mut input = serde_json::Map::new();
    input.insert("owner".into(), json!("acme"));
    input.insert("repo".into(), json!("%2F"));
    let err = crate::actions::render::render_target(url, &input).unwrap_err();
    assert!(err.to_string().contains("encoded twice"), "{err}");
}

#[test]
fn query_values_are_encoded_as_one_component() {
    for value in ["open&per_page=100", "a=b", "x#y", "x y+z", "ü", "%26"] {
        let request =
            build(json!({"owner": "acme", "repo": "w", "title": "t", "state": value})).unwrap();
        let query = request.uri().query().unwrap();
        let pairs: Vec<(String, String)> = query
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                let v = percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .unwrap();
                (k.to_owned(), v.into_owned())
            })
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("state".to_owned(), value.to_owned()),
                ("per_page".to_owned(), "5".to_owned())
            ],
            "{value:?}"
        );
    }
}

#[test]
fn header_values_keep_unicode_and_spaces_as_sent() {
    let request =
        build(json!({"owner": "acme", "repo": "w", "title": "t", "trace": "a b ü"})).unwrap();
    assert_eq!(
        request.headers()["x-trace"].as_bytes(),
        "id-a b ü".as_bytes()
    );
}

#[test]
fn header_values_with_cr_lf_or_nul_are_refused() {
    for value in ["x\r\nX-Evil: 1", "x\ny", "x\ry", "x\u{0}y"] {
        let err =
            build(json!({"owner": "acme", "repo": "w", "title": "t", "trace": value})).unwrap_err();
        assert_eq!(
            err,
            CallError::Render(RenderError::HeaderValue("x-trace".into())),
            "{value:?}"
        );
    }
}

#[test]
fn an_invalid_input_is_refused_before_rendering() {
    let err = build(json!({"owner": "acme", "repo": "w"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: /: missing required field `title`"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

    /// Whatever the value, the request keeps its host and query, and the path is either
    /// refused or read by the normaliser as the template's four segments.
    #[test]
    fn no_value_changes_the_host_query_or_segments(value in "[./%?#;&=@:\\\\a-zA-Z0-9 \r\n\u{0}-\u{7f}ü☃]{0,12}") {
        let input = json!({"owner": "acme", "repo": value, "title": "t", "state": value});
        match build(input) {
            Err(err) => proptest::prop_assert!(
                matches!(&err, CallError::Render(RenderError::Segment { param, .. }) if param == "repo"),
                "{value:?}: {err}"
            ),
            Ok(request) => {
                let uri = request.uri();
                proptest::prop_assert_eq!(uri.host(), Some("api.github.com"));
                let query = uri.query().unwrap_or_default();
                proptest::prop_assert_eq!(query.matches('&').count(), 1, "{}", query);
                proptest::prop_assert!(query.ends_with("&per_page=5"), "{}", query);
                let target = normalize_target("api.github.com", 443, uri.path()).unwrap();
                proptest::prop_assert_eq!(target.segments, vec!["repos", "acme", value.as_str(), "issues"]);
            }
        }
    }
}
