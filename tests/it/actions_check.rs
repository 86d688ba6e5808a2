//! `keyward check` on rule files with `actions:`: every problem printed as `file:line:col`,
//! exit 1; the shipped example passes and is counted.

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

/// One action with a problem on nearly every line that can have one.
const BAD: &str = "actions:
  - name: tools.fetch
    description: fetch a thing
    input:
      type: object
      required: [id]
      properties:
        id: {type: string, pattern: '(unclosed'}
        page: {type: integer, maxLength: 3}
    request:
      method: GET
      url: https://{tenant}.example.com/things/{id}
  - name: tools.fetch
    description: fetch it again
    input:
      type: object
      properties:
        id: {type: string}
    request:
      method: GET
      url: https://api.example.com/things/{id}?q={query}
";

#[test]
fn check_reports_every_action_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, BAD).unwrap();
    let out = keyward(&["check", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for want in [
        "bad.yaml:8:37: invalid pattern `(unclosed`",
        "bad.yaml:9:22: `maxLength` does not apply to type `integer`",
        "bad.yaml:12:12: the host of `https://{tenant}.example.com/things/{id}` must be fixed",
        "bad.yaml:13:11: duplicate action name `tools.fetch` (first defined at ",
        "bad.yaml:21:12: parameter `{id}` must be listed in the input's `required:`",
        "bad.yaml:21:12: parameter `{query}` is not a property of the input schema",
    ] {
        assert!(text.contains(want), "missing {want} in:\n{text}");
    }
    assert!(!text.contains("ok:"), "{text}");
}

#[test]
fn check_reports_an_unknown_schema_keyword_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kw.yaml");
    let text = BAD.replace(
        "{type: string, pattern: '(unclosed'}",
        "{type: string, format: uri}",
    );
    std::fs::write(&file, text).unwrap();
    let out = keyward(&["check", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("kw.yaml:8:28: unknown field `format`"),
        "{text}"
    );
}

#[test]
fn check_counts_the_shipped_example_actions() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/rules");
    let out = keyward(&["check", file]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(", 3 actions"), "{text}");
}
