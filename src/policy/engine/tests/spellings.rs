//! Ambiguous path spellings: refused unless a rule of the host opts in with
//! `path_spellings:`; then deny and approve rules see every reading, allow rules the strict.

use super::{decide, rules};
use crate::policy::{AmbiguousPath, Verdict, normalize_target};

/// An allow on the repository with a deny on its admin pages: the shape that `//admin`,
/// `admin;x=y` and `..;/` bypassed.
fn widgets(opt_in: &str) -> String {
    format!(
        r#"
rules:
  - id: widgets
    url: https://api.example.com/repos/acme/widgets/**
    decision: allow
{opt_in}
  - id: no-admin
    url: https://api.example.com/repos/acme/widgets/admin/**
    decision: deny
  - id: hold-keys
    url: https://api.example.com/repos/acme/widgets/keys
    decision: approve
"#
    )
}

#[test]
fn ambiguous_spellings_are_refused_by_default() {
    let set = rules(&widgets(""));
    for (path, why) in [
        ("/repos/acme/widgets//admin/users", "empty segment"),
        ("//repos/acme/widgets/admin/users", "empty segment"),
        ("/repos/acme/widgets/admin;x=y/users", "path parameter"),
        ("/repos/acme/widgets/x%3Bx/users", "path parameter"),
    ] {
        let d = decide(&set, &format!("GET https://api.example.com{path}"), None);
        assert_eq!(d.verdict, Verdict::Deny, "{path}");
        assert!(d.reason.contains(why), "{path}: {}", d.reason);
        assert!(d.reason.contains("path_spellings"), "{path}: {}", d.reason);
        let target = normalize_target("api.example.com", 443, path).unwrap();
        assert!(set.check_spellings(&target).is_err(), "{path}");
    }
    let trailing = normalize_target("api.example.com", 443, "/repos/acme/widgets/").unwrap();
    assert!(set.check_spellings(&trailing).is_ok());
    assert!(
        decide(
            &set,
            "GET https://api.example.com/repos/acme/widgets/",
            None
        )
        .is_allowed()
    );
}

#[test]
fn an_opt_in_admits_the_spelling_but_deny_rules_see_every_reading() {
    let set = rules(&widgets(
        "    path_spellings: { empty_segments: allow, parameters: allow }",
    ));
    for path in [
        "/repos/acme/widgets//admin/users",
        "/repos/acme/widgets/admin;x=y/users",
        "/repos/acme/widgets/admin;/users",
        "/repos/acme/widgets///admin;a=b//users",
        "//repos/acme/widgets/admin/users",
    ] {
        let d = decide(&set, &format!("GET https://api.example.com{path}"), None);
        assert_eq!(d.verdict, Verdict::Deny, "{path}: {d:#?}");
        assert_eq!(
            d.rule.as_ref().map(|r| r.as_str()),
            Some("no-admin"),
            "{path}"
        );
    }
    let d = decide(
        &set,
        "GET https://api.example.com/repos/acme/widgets/keys;v=1",
        None,
    );
    assert_eq!(d.verdict, Verdict::Approve, "{d:#?}");
    // The spelling is admitted, and the allow rule matches its strict reading.
    for path in [
        "/repos/acme/widgets//issues",
        "/repos/acme/widgets/issues;v=2",
    ] {
        let d = decide(&set, &format!("GET https://api.example.com{path}"), None);
        assert!(d.is_allowed(), "{path}: {d:#?}");
    }
    // Allow rules match the strict reading only: `/a;v=1` is not `/a`.
    let strict = rules(
        r#"
rules:
  - id: exact
    url: https://api.example.com/a
    decision: allow
    path_spellings: { parameters: allow, empty_segments: refuse }
"#,
    );
    assert!(decide(&strict, "GET https://api.example.com/a", None).is_allowed());
    assert!(!decide(&strict, "GET https://api.example.com/a;v=1", None).is_allowed());
    let d = decide(&strict, "GET https://api.example.com//a", None);
    assert!(d.reason.contains("empty segment"), "{d:#?}");
}

#[test]
fn any_rule_of_the_host_opts_the_host_in() {
    let set = rules(
        r#"
rules:
  - id: other-host
    url: https://elsewhere.example.com/**
    decision: allow
    path_spellings: { empty_segments: allow }
  - id: shadow-opt-in
    url: https://api.example.com/never/**
    decision: deny
    mode: shadow
    path_spellings: { empty_segments: allow }
  - id: all
    url: https://api.example.com/**
    decision: allow
"#,
    );
    let target = normalize_target("api.example.com", 443, "/x//y").unwrap();
    assert!(set.check_spellings(&target).is_ok());
    let params = normalize_target("api.example.com", 443, "/x;y").unwrap();
    assert!(matches!(
        set.check_spellings(&params),
        Err(AmbiguousPath::Parameter(_))
    ));
    let none = rules("rules:\n  - id: a\n    url: https://b.example.com/**\n    decision: allow\n");
    let elsewhere = normalize_target("b.example.com", 443, "/x//y").unwrap();
    assert!(matches!(
        none.check_spellings(&elsewhere),
        Err(AmbiguousPath::EmptySegment(_))
    ));
}
