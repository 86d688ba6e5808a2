//! `pip install` through `keyward run` from a PEP 503 index served over HTTPS, with the
//! placeholder as the index password: pip trusts keyward through `PIP_CERT` and proxies
//! through `HTTPS_PROXY`; keyward puts the real password in the Basic header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Scene, require, text};
use crate::support::package_index::{build_wheel, index};

const PLACEHOLDER: &str = "keyward:index:00112233445566aa";
const REAL: &str = "real-index-password-99aa88bb";

fn rules(secret_path: &std::path::Path) -> String {
    format!(
        r#"secrets:
  index:
    from: file:{}
    placeholder: {PLACEHOLDER}
    env: PIP_INDEX_TOKEN
    hosts: [pypi.test.example]
rules:
  - id: index-pages
    method: [GET, HEAD]
    url: https://pypi.test.example/simple/**
    inject: [index]
    decision: allow
  - id: index-files
    method: [GET, HEAD]
    url: https://pypi.test.example/packages/**
    inject: [index]
    decision: allow
"#,
        secret_path.display()
    )
}

const PIP: &str = "python3 -m pip install --no-cache-dir --no-deps --disable-pip-version-check \
     --no-input --retries 0 --timeout 20 --target \"$PWD/site\"";

#[tokio::test]
async fn pip_install_through_keyward_run() {
    require("python3", "--version");
    let wheels = tempfile::tempdir().unwrap();
    let wheel = build_wheel(wheels.path());
    let scene = Scene::start(&["pypi.test.example"], index(wheel, REAL.to_owned())).await;
    let secret = scene.secret_file("index", REAL);
    scene.add_rules("index.yaml", &rules(&secret));
    let install = format!(
        "set -e\n{PIP} -q --index-url \"https://__token__:$PIP_INDEX_TOKEN@pypi.test.example/simple/\" keyward-probe\n\
         PYTHONPATH=\"$PWD/site\" python3 -c 'import keyward_probe; print(keyward_probe.VALUE)'"
    );
    let hermetic = |c: &mut std::process::Command| {
        c.env_remove("PIP_FIND_LINKS").env_remove("PIP_INDEX_URL");
    };
    let out = scene.run(hermetic, &["sh", "-c", &install]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("installed through keyward"), "{stdout}");
    assert!(!stdout.contains(REAL) && !stderr.contains(REAL));
    let expected = format!("Basic {}", STANDARD.encode(format!("__token__:{REAL}")));
    let seen = scene.upstream.seen();
    assert!(
        seen.iter().any(|s| s.uri.ends_with(".whl")),
        "the wheel was fetched"
    );
    assert!(
        seen.iter().all(|s| s
            .headers
            .get("authorization")
            .is_some_and(|v| v == expected.as_str())),
        "every request carried the real password"
    );

    let before = scene.upstream.count();
    let denied = format!(
        "{PIP} -vvv --index-url \"https://__token__:$PIP_INDEX_TOKEN@pypi.test.example/private/\" keyward-probe"
    );
    let out = scene.run(hermetic, &["sh", "-c", &denied]).await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("403") || stderr.contains("403"),
        "{stderr}\n{stdout}"
    );
    let refused = format!("{PIP} -vvv --index-url https://evil.example/simple/ keyward-probe");
    let out = scene.run(hermetic, &["sh", "-c", &refused]).await;
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stdout.contains("403") || stderr.contains("403"),
        "CONNECT refusal: {stderr}\n{stdout}"
    );
    assert_eq!(
        scene.upstream.count(),
        before,
        "nothing denied was forwarded"
    );
}
