//! Loads the shipped `rules/` directory and runs every `tests:` entry in it.

use std::path::Path;

use crate::policy::RuleSet;

fn shipped_rules() -> RuleSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    RuleSet::load_dir(&dir).unwrap_or_else(|e| panic!("shipped rules do not compile:\n{e}"))
}

#[test]
fn shipped_rule_files_pass_their_tests() {
    let set = shipped_rules();
    let report = set.run_tests();
    assert!(report.all_passed(), "{report}");
    assert!(report.outcomes.len() >= 30, "{}", report.outcomes.len());
}

#[test]
fn every_shipped_file_has_tests() {
    let set = shipped_rules();
    for name in [
        "github",
        "email",
        "cloud",
        "internal-api",
        "registries",
        "mcp-github",
        "graphql-github",
        "actions-github",
        "actions-email",
        "actions-cloud",
    ] {
        let file = format!("{name}.yaml");
        assert!(
            set.tests().iter().any(|t| t.pos.file.ends_with(&file)),
            "{file} has no tests"
        );
    }
}

#[test]
fn a_failing_test_is_reported_with_its_explanation() {
    let text = "rules:\n  - id: a\n    url: https://a.com/x\n    decision: allow\ntests:\n  - request: GET https://a.com/y\n    expect: allow\n";
    let set = RuleSet::compile(&[crate::policy::Source {
        path: "t.yaml".into(),
        text: text.into(),
    }])
    .unwrap();
    let report = set.run_tests();
    assert_eq!(report.failed(), 1);
    let text = report.to_string();
    assert!(
        text.starts_with("t.yaml:6:14: GET https://a.com/y: expected allow, got deny by no rule"),
        "{text}"
    );
    assert!(
        text.contains("[FAIL] selector * https://a.com/x: path /y does not match /x"),
        "{text}"
    );
    assert!(text.ends_with("0 passed, 1 failed"), "{text}");
}

#[test]
fn load_dir_reports_unreadable_directories() {
    let err = RuleSet::load_dir(Path::new("/nonexistent/keyward-rules")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/keyward-rules: cannot read"),
        "{err}"
    );
}
