//! `git clone` and `git push` over HTTPS through `keyward run`, against `git http-backend`,
//! with the placeholder as the Basic-auth password in the remote URL: keyward swaps it for
//! the real token inside the `Authorization: Basic` header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{Scene, require, text};
use crate::support::git_http::{backend, bare_repo, git};

const PLACEHOLDER: &str = "keyward:forge:0123456789abcdef";
const REAL: &str = "real-forge-token-0f1e2d3c4b5a";

fn rules(secret_path: &std::path::Path) -> String {
    format!(
        r#"secrets:
  forge:
    from: file:{}
    placeholder: {PLACEHOLDER}
    env: FORGE_TOKEN
    hosts: [git.test.example]
rules:
  - id: forge-acme
    description: the acme repositories, read and write
    method: [GET, POST]
    url: https://git.test.example/acme/**
    inject: [forge]
    decision: allow
"#,
        secret_path.display()
    )
}

#[tokio::test]
async fn git_clone_and_push_through_keyward_run() {
    require("git", "--version");
    let repos = tempfile::tempdir().unwrap();
    let bare = bare_repo(repos.path(), "acme/app.git");
    bare_repo(repos.path(), "evil/app.git");
    let handler = backend(repos.path().to_path_buf(), REAL.to_owned());
    let scene = Scene::start(&["git.test.example"], handler).await;
    let secret = scene.secret_file("forge", REAL);
    scene.add_rules("forge.yaml", &rules(&secret));
    let identity = |c: &mut std::process::Command| {
        c.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_NAME", "agent")
            .env("GIT_AUTHOR_EMAIL", "agent@keyward.invalid")
            .env("GIT_COMMITTER_NAME", "agent")
            .env("GIT_COMMITTER_EMAIL", "agent@keyward.invalid");
    };
    let script = r#"set -e
git clone -q "https://agent:$FORGE_TOKEN@git.test.example/acme/app.git" clone
cd clone
cat README
echo "made by the agent" > CHANGE
git add CHANGE
git commit -q -m "change from the agent"
git push -q origin main
"#;
    let out = scene.run(identity, &["sh", "-c", script]).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert!(stdout.contains("hello from the test server"), "{stdout}");
    assert!(!stdout.contains(REAL) && !stderr.contains(REAL));
    let log = git(&bare, &["log", "--oneline", "main"]).output().unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains("change from the agent"), "pushed: {log}");
    let expected = format!("Basic {}", STANDARD.encode(format!("agent:{REAL}")));
    let seen = scene.upstream.seen();
    let authorised: Vec<_> = seen
        .iter()
        .filter_map(|s| s.headers.get("authorization"))
        .collect();
    assert!(!authorised.is_empty());
    assert!(
        authorised.iter().all(|v| *v == expected.as_str()),
        "{authorised:?}"
    );
    assert!(
        seen.iter().any(|s| s.uri.contains("git-receive-pack")),
        "push reached it"
    );
    let clone_config =
        std::fs::read_to_string(scene.work.path().join("clone/.git/config")).unwrap();
    assert!(clone_config.contains(PLACEHOLDER) && !clone_config.contains(REAL));

    let before = scene.upstream.count();
    let denied = r#"GIT_TRACE_CURL=1 git clone -q "https://agent:$FORGE_TOKEN@git.test.example/evil/app.git" evil"#;
    let out = scene.run(identity, &["sh", "-c", denied]).await;
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("403"), "{stderr}");
    assert!(
        stderr.contains("\"error\":\"denied\""),
        "keyward's reason: {stderr}"
    );
    assert!(!stderr.contains(REAL));
    assert_eq!(scene.upstream.count(), before, "nothing forwarded");
}
