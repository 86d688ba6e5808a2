//! What ships must start: the arguments, mounted files and environment of every shipped unit
//! (the Kubernetes Deployment and sidecars, both compose files, systemd, the Dockerfile's
//! default command)
//! are read from deploy/, their container paths mapped into a temporary root, their listen
//! addresses to port 0; the real binary then starts with them, listens, and its `/readyz`
//! answers 200 (and, where a token is mounted, the admin API accepts it). The replicated
//! Deployment, which needs Redis, is started by `deploy_kube.rs` with these functions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use http::StatusCode;
use serde_json::Value;

use crate::support::{self, child};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

pub(crate) fn yaml(path: &Path) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every Kubernetes object of deploy/kubernetes.
pub(crate) fn objects() -> Vec<Value> {
    let mut out = Vec::new();
    let mut dirs = vec![deploy().join("kubernetes")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                out.extend(yaml(&path));
            }
        }
    }
    out
}

pub(crate) fn object<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    all.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// What a mounted path holds.
pub(crate) enum Content {
    /// Files by name.
    Files(BTreeMap<String, String>),
    /// A CA made by `keyward ca init`.
    Ca,
    /// The shipped rules/ directory.
    Rules,
    Empty,
}

/// A unit as shipped: its arguments, mounts, working directory and environment.
pub(crate) struct Unit {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<String>,
    pub(crate) mounts: Vec<(String, Content)>,
    pub(crate) workdir: String,
    pub(crate) env: Vec<(String, String)>,
    /// The path the unit's readiness check asks for.
    pub(crate) ready: String,
    /// The admin token a client of the unit would use, when one is mounted.
    pub(crate) token: Option<String>,
}

/// Flags whose value is an address to listen on (mapped to 127.0.0.1:0).
const LISTEN_FLAGS: [&str; 3] = ["--listen", "--admin-listen", "--transparent-listen"];

/// Maps container paths under `root` and listen addresses to port 0.
fn map_arg(arg: &str, root: &Path) -> String {
    let at = |p: &str| root.join(p.trim_start_matches('/')).display().to_string();
    if let Some((flag, value)) = arg.split_once('=')
        && flag.starts_with("--")
    {
        return format!("{flag}={}", map_value(flag, value, &at));
    }
    map_value("", arg, &at)
}

fn map_value(flag: &str, value: &str, at: &dyn Fn(&str) -> String) -> String {
    if LISTEN_FLAGS.contains(&flag) {
        return "127.0.0.1:0".to_owned();
    }
    if let Some(path) = value.strip_prefix("file:") {
        return format!("file:{}", at(path));
    }
    if value.starts_with('/') {
        return at(value);
    }
    value.to_owned()
}

/// Arguments with `--flag value` pairs mapped too.
fn map_args(args: &[String], root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut previous = String::new();
    for arg in args {
        let mapped = if LISTEN_FLAGS.contains(&previous.as_str()) {
            "127.0.0.1:0".to_owned()
        } else {
            map_arg(arg, root)
        };
        previous = arg.clone();
        out.push(mapped);
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The keyward container of a Deployment (its first container, or its native sidecar).
pub(crate) fn kubernetes_unit(name: &'static str, deployment: &str) -> Unit {
    let all = objects();
    let pod = &object(&all, "Deployment", deployment)["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(pod["initContainers"].as_array().into_iter().flatten())
        .find(|c| c["name"] == "keyward")
        .unwrap();
    let mut mounts = Vec::new();
    let mut token = None;
    for mount in container["volumeMounts"].as_array().unwrap() {
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let content = if let Some(map) = volume["configMap"]["name"].as_str() {
            Content::Files(string_map(&object(&all, "ConfigMap", map)["data"]))
        } else if let Some(secret) = volume["secret"]["secretName"].as_str() {
            if secret == "keyward-ca" {
                Content::Ca
            } else {
                let files = string_map(&object(&all, "Secret", secret)["stringData"]);
                if let Some(t) = files.get("token") {
                    token = Some(t.clone());
                }
                Content::Files(files)
            }
        } else {
            Content::Empty
        };
        mounts.push((mount["mountPath"].as_str().unwrap().to_owned(), content));
    }
    let mut env = Vec::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let secret = from["secretRef"]["name"].as_str().unwrap();
        env.extend(string_map(&object(&all, "Secret", secret)["stringData"]));
    }
    let probe = ["readinessProbe", "startupProbe"]
        .into_iter()
        .find_map(|p| container[p]["httpGet"]["path"].as_str())
        .unwrap_or_else(|| panic!("{name}: no HTTP readiness or startup probe"));
    Unit {
        name,
        args: strings(&container["args"]),
        mounts,
        // The image's WORKDIR (deploy/Dockerfile).
        workdir: "/var/lib/keyward".into(),
        env,
        ready: probe.to_owned(),
        token,
    }
}

fn compose_unit(file: &str) -> Unit {
    let compose = &yaml(&deploy().join(file))[0];
    let service = &compose["services"]["keyward"];
    let mut mounts = Vec::new();
    for volume in strings(&service["volumes"]) {
        let parts: Vec<&str> = volume.split(':').collect();
        let content = match parts[0] {
            "../rules" => Content::Rules,
            "./certs" => Content::Ca,
            _ => Content::Empty,
        };
        mounts.push((parts[1].to_owned(), content));
    }
    let env = string_map(&service["environment"])
        .into_keys()
        .map(|k| (k, "ghp_deploy_unit_test_value_0123456789abcdef".to_owned()))
        .collect();
    Unit {
        name: if file.contains("transparent") {
            "compose-transparent"
        } else {
            "compose"
        },
        args: strings(&service["command"]),
        mounts,
        workdir: "/var/lib/keyward".into(),
        env,
        ready: "/readyz".into(),
        token: None,
    }
}

fn systemd_unit() -> Unit {
    let text = std::fs::read_to_string(deploy().join("systemd/keyward.service")).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}="))
            .to_owned()
    };
    let exec = value("ExecStart");
    let mut words = exec.split_whitespace().map(str::to_owned);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/keyward"));
    let state = format!("/var/lib/{}", value("StateDirectory"));
    Unit {
        name: "systemd",
        args: words.collect(),
        // The install steps copy rules/*.yaml to /etc/keyward/rules.
        mounts: vec![
            ("/etc/keyward/rules".into(), Content::Rules),
            (state.clone(), Content::Empty),
        ],
        workdir: value("WorkingDirectory"),
        env: Vec::new(),
        ready: "/readyz".into(),
        token: None,
    }
}

fn dockerfile_unit() -> Unit {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    let start = text.find("\nCMD ").unwrap() + 5;
    let mut cmd = String::new();
    for line in text[start..].lines() {
        let line = line.trim_end();
        cmd.push_str(line.trim_end_matches('\\'));
        if !line.ends_with('\\') {
            break;
        }
    }
    let args: Vec<String> = serde_json::from_str(&cmd).unwrap();
    Unit {
        name: "Dockerfile",
        args,
        mounts: vec![
            ("/etc/keyward/rules".into(), Content::Rules),
            ("/var/lib/keyward/certs".into(), Content::Empty),
        ],
        workdir: "/var/lib/keyward".into(),
        env: Vec::new(),
        ready: "/readyz".into(),
        token: None,
    }
}

fn copy_rules(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

async fn start(unit: Unit) {
    let _ = start_prepared(unit, |_| {}).await;
}

/// Starts `unit` once its mounts are written and `prepare` has seen the temporary root;
/// returns what it wrote (stdout, stderr and the files under its working directory).
pub(crate) async fn start_prepared(unit: Unit, prepare: impl FnOnce(&Path)) -> String {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &str| root.path().join(p.trim_start_matches('/'));
    for (path, content) in &unit.mounts {
        let dir = at(path);
        std::fs::create_dir_all(&dir).unwrap();
        match content {
            Content::Files(files) => {
                for (name, text) in files {
                    std::fs::write(dir.join(name), text).unwrap();
                }
            }
            Content::Ca => {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
                    .args(["ca", "init", "--dir"])
                    .arg(&dir)
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}: {out:?}", unit.name);
            }
            Content::Rules => copy_rules(&dir),
            Content::Empty => {}
        }
    }
    prepare(root.path());
    let workdir = at(&unit.workdir);
    std::fs::create_dir_all(&workdir).unwrap();
    let args = map_args(&unit.args, root.path());
    let mut command = child::command();
    command
        .args(&args)
        .current_dir(&workdir)
        .envs(unit.env.iter().cloned())
        .env_remove("KEYWARD_ADMIN_TOKEN");
    let logs = tempfile::tempdir().unwrap();
    let mut keyward = child::spawn(command, logs.path()).await;
    let admin = keyward.admin().await;
    let what = format!("{}: {} answers 200", unit.name, unit.ready);
    support::eventually_async(&what, std::time::Duration::from_secs(10), async || {
        let ready = support::admin_get(&admin, &unit.ready).await;
        (ready.status == StatusCode::OK).then_some(())
    })
    .await;
    if args.iter().any(|a| a.starts_with("--transparent-listen")) {
        refuses_direct_connections(&keyward).await;
    }
    let without = support::admin_get(&admin, "/approvals").await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED, "{}", unit.name);
    if let Some(token) = &unit.token {
        let with = support::admin_get_as(&admin, Some(token), "/approvals").await;
        assert_eq!(
            with.status,
            StatusCode::OK,
            "{}: the mounted token",
            unit.name
        );
    }
    assert!(keyward.terminate().await.success(), "{}", unit.name);
    let stderr = std::fs::read_to_string(&keyward.stderr).unwrap();
    assert!(!stderr.contains("ERROR"), "{}: {stderr}", unit.name);
    let mut written = std::fs::read_to_string(&keyward.stdout).unwrap() + &stderr;
    let mut dirs = vec![workdir];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                written.push_str(&text);
            }
        }
    }
    written
}

/// The transparent listener the banner names closes a connection that was not redirected
/// without an answer.
async fn refuses_direct_connections(keyward: &child::Child) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let line = child::line_in(&keyward.stdout, "Transparent listener: ").await;
    let addr = line.split_whitespace().next().unwrap();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The refusal may close the socket before the request is written.
    let _ = tcp
        .write_all(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut answer),
    )
    .await
    .expect("the transparent listener closed the connection in time");
    assert!(read.is_err() || answer.is_empty(), "{answer:?}");
}

#[tokio::test]
async fn kubernetes_sidecar_starts_with_its_arguments_and_mounts() {
    let unit = kubernetes_unit("sidecar", "agent-with-keyward");
    assert!(unit.token.is_some(), "the sidecar mounts an admin token");
    start(unit).await;
}

#[tokio::test]
async fn compose_service_starts_with_its_command_and_volumes() {
    start(compose_unit("compose.yaml")).await;
}

#[tokio::test]
async fn kubernetes_transparent_sidecar_starts_with_its_arguments_and_mounts() {
    let unit = kubernetes_unit("transparent sidecar", "agent-with-keyward-transparent");
    assert!(unit.token.is_some(), "the sidecar mounts an admin token");
    start(unit).await;
}

#[tokio::test]
async fn compose_transparent_service_starts_with_its_command_and_volumes() {
    start(compose_unit("compose-transparent.yaml")).await;
}

#[tokio::test]
async fn systemd_unit_starts_with_its_exec_line() {
    start(systemd_unit()).await;
}

#[tokio::test]
async fn dockerfile_default_command_starts() {
    start(dockerfile_unit()).await;
}
