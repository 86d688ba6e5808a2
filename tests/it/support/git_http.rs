//! A git smart-HTTP upstream: `git http-backend` run as CGI behind the recording HTTPS test
//! server, with HTTP Basic authentication that only the real secret passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::AsyncWriteExt;

use super::upstream::{Handler, TestBody, full};

/// Creates the bare repository `root/NAME` holding one commit with `README`.
pub fn bare_repo(root: &Path, name: &str) -> PathBuf {
    let bare = root.join(name);
    run(git(root, &["init", "-q", "--bare", "-b", "main"]).arg(&bare));
    let seed = root.join(format!("seed-{}", name.replace('/', "-")));
    run(git(root, &["init", "-q", "-b", "main"]).arg(&seed));
    std::fs::write(seed.join("README"), "hello from the test server\n").unwrap();
    run(&mut git(&seed, &["add", "README"]));
    run(&mut git(&seed, &["commit", "-q", "-m", "first"]));
    run(git(&seed, &["push", "-q"]).arg(&bare).arg("main"));
    bare
}

/// `git` with an identity and no user configuration, in `dir`.
pub fn git(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir)
        .args([
            "-c",
            "user.name=keyward test",
            "-c",
            "user.email=test@keyward.invalid",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

fn run(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Serves the repositories under `root`; a request without Basic credentials gets 401 (so
/// git sends them), one whose password is not `password` gets 403.
pub fn backend(root: PathBuf, password: String) -> Handler {
    let root = Arc::new(root);
    let password = Arc::new(password);
    Arc::new(move |req: Request<Incoming>| {
        let root = root.clone();
        let password = password.clone();
        Box::pin(async move {
            match basic_auth(&req) {
                None => Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("www-authenticate", "Basic realm=\"git\"")
                    .body(full("credentials required"))
                    .unwrap(),
                Some((user, pass)) if pass == *password => cgi(&root, &user, req).await,
                Some(_) => Response::builder()
                    .status(StatusCode::FORBIDDEN)
                    .body(full("wrong password"))
                    .unwrap(),
            }
        })
    })
}

fn basic_auth(req: &Request<Incoming>) -> Option<(String, String)> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Runs `git http-backend` for one request and turns its CGI output into a response.
async fn cgi(root: &Path, user: &str, req: Request<Incoming>) -> Response<TestBody> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&body).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.stdout
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout[..split.0]).to_string();
    let mut response = Response::builder();
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.split(' ').next().unwrap().parse().unwrap();
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response.body(full(out.stdout[split.1..].to_vec())).unwrap()
}
