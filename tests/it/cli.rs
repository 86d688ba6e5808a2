//! The command line as a user runs it: `ca init/show`, `check` (errors with file:line:col,
//! exit 1; warnings for guessable placeholders), `test`, `explain`, `audit verify/tail`.

use std::process::Output;

fn keyward(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn ca_init_then_show_prints_the_pem_and_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("certs");
    let d = d.to_str().unwrap();
    let init = keyward(&["ca", "init", "--dir", d]);
    assert!(init.status.success());
    let again = keyward(&["ca", "init", "--dir", d]);
    assert!(
        !again.status.success(),
        "an existing CA is not replaced without --force"
    );
    let show = keyward(&["ca", "show", "--dir", d]);
    let text = stdout(&show);
    assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{text}");
    let fingerprint = text.lines().last().unwrap();
    assert!(fingerprint.starts_with("SHA-256 fingerprint: "));
    assert_eq!(fingerprint.matches(':').count(), 32, "{fingerprint}");
    assert!(stdout(&init).contains(fingerprint.trim_start_matches("SHA-256 fingerprint: ")));
}

#[test]
fn check_reports_every_error_with_its_position_and_warns_on_guessable_placeholders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "patterns:\n  s: ['(unclosed']\nsecrets:\n  t:\n    from: env:T\n    placeholder: tok\n    hosts: [x.example]\nrules:\n  - id: one\n    url: https://x.example/**\n    body:\n      must_not_match: [nope]\n    decision: allow\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "rules:\n  - id: one\n    url: https://y.example/\n    decision: deny\n",
    )
    .unwrap();
    let out = keyward(&["check", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for want in ["a.yaml:2:", "a.yaml:12:", "b.yaml:2:"] {
        assert!(text.contains(want), "missing {want} in:\n{text}");
    }
    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "secrets:\n  t:\n    from: env:T\n    placeholder: tok\n    hosts: [x.example]\nrules:\n  - id: one\n    url: https://x.example/**\n    inject: [t]\n    decision: allow\n",
    )
    .unwrap();
    let out = keyward(&["check", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("warning:") && text.contains("placeholder of secret `t`"),
        "{text}"
    );
    assert!(text.contains("ok: 1 rules"), "{text}");
}

#[test]
fn check_takes_a_single_rule_file() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/github.yaml");
    let out = keyward(&["check", file]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("ok: "), "{}", stdout(&out));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("one.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - id: x\n    url: https://x.example/\n    decision: alow\n",
    )
    .unwrap();
    let out = keyward(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("one.yaml:4:"), "{}", stdout(&out));
}

#[test]
fn test_and_explain_use_the_shipped_rules() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let out = keyward(&["test", rules]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).trim_end().ends_with("0 failed"));
    let out = keyward(&[
        "explain",
        "--rules",
        rules,
        "POST",
        "https://api.github.com/repos/acme/keyward/issues",
        "--body",
        r#"{"title":"x","labels":["wontfix"]}"#,
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("decision: deny"), "{text}");
    assert!(
        text.contains("/labels/0 = \"wontfix\" is not one of"),
        "{text}"
    );
}
