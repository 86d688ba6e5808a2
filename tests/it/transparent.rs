//! The transparent listener under a real kernel redirect: the agent runs in a network
//! namespace into which the shipped deploy/transparent/redirect.nft is loaded, whose nat
//! OUTPUT chain REDIRECTs every TCP connection, loopback and keyward's uid aside, to
//! keyward's transparent port. The port's socket is bound inside that namespace
//! (REDIRECT only reaches sockets of the namespace it runs in, and `SO_ORIGINAL_DST` is read
//! from that namespace's connection tracking) and handed to keyward, which runs in the test
//! process and dials its upstreams from the root namespace, as `keyward run --jail` does.
//! The agent is curl (or python3 for raw requests) with no proxy variables and
//! `--noproxy '*'`, trusting keyward's CA, its names pinned with `--resolve` to a
//! public-looking address the redirect catches; keyward pins the same names to the test
//! upstreams on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsFd;
use std::process::Stdio;
use std::time::Duration;

use crate::support::audit_log;
use crate::support::harness::Running;
use crate::support::netns::PrivateLink;
use crate::support::upstream::echo;
use crate::support::{Harness, Keyward, TestCa};

/// The address the agent believes it connects to (TEST-NET-3, routed out of the namespace).
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
/// An HTTPS name a rule allows, with a credential injected.
const API: &str = "api.example.com";
/// A plain-HTTP name allowed host-wide.
const PLAIN: &str = "plain.example.com";
/// An HTTPS name no rule admits.
const DENIED: &str = "denied.example.com";
const PLACEHOLDER: &str = "keyward:api:0123456789abcdef";
const VALUE: &str = "real-api-token-5b7e";
/// The transparent port deploy/transparent/redirect.nft redirects to.
const SHIPPED_PORT: u16 = 15001;
/// How long an agent command may run.
const AGENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A namespace whose outgoing TCP is redirected to keyward's transparent port.
struct Redirected {
    link: PrivateLink,
    /// The transparent port, inside the namespace (127.0.0.1).
    port: u16,
}

impl Redirected {
    /// The namespace, the redirect and the listening socket; `Err` says why it cannot be
    /// made here (not root, no `ip` or `nft`, no namespaces).
    fn create() -> Result<(Self, std::net::TcpListener), String> {
        let link = PrivateLink::create()?;
        if !succeeds(std::process::Command::new("nft").arg("--version")) {
            return Err("nftables' `nft` is not installed".into());
        }
        let netns = link.netns.clone();
        let mut route = std::process::Command::new("ip");
        route
            .args(["-n", &netns, "route", "add", "default", "via"])
            .arg(link.host_addr.to_string());
        assert!(
            succeeds(&mut route),
            "cannot add a default route in {netns}"
        );
        // The shipped redirect names its port; in a namespace made for this test nothing
        // else can hold it.
        let listener = bind_in(
            &netns,
            SocketAddr::from((Ipv4Addr::LOCALHOST, SHIPPED_PORT)),
        )
        .unwrap();
        let port = listener.local_addr().unwrap().port();
        let ruleset = deploy_redirect();
        let mut nft = std::process::Command::new("ip");
        nft.args(["netns", "exec", &netns, "nft", "-f"])
            .arg(&ruleset);
        assert!(
            succeeds(&mut nft),
            "cannot load {} in {netns}",
            ruleset.display()
        );
        Ok((Self { link, port }, listener))
    }

    /// `program args…` run in the namespace with no proxy variables; (exit success, stdout).
    async fn run(&self, program: &str, args: &[&str]) -> (bool, String) {
        let mut command = tokio::process::Command::new("ip");
        command
            .args(["netns", "exec", &self.link.netns, program])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(AGENT_TIMEOUT, command.output())
            .await
            .expect("the agent command finished in time")
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!(
            "{program} {args:?}: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), stdout)
    }

    /// curl `url` through the redirect, trusting `keyward`'s CA, every name in `pins`
    /// resolved to [`ELSEWHERE`]; the status and the body.
    async fn curl(
        &self,
        keyward: &Keyward,
        url: &str,
        pins: &[&str],
        extra: &[&str],
    ) -> (u16, String) {
        let ca = keyward.ca_path.display().to_string();
        let resolve: Vec<String> = pins.iter().map(|p| format!("{p}:{ELSEWHERE}")).collect();
        let mut args = vec!["-sS", "--noproxy", "*", "--max-time", "10", "--cacert", &ca];
        for r in &resolve {
            args.extend(["--resolve", r.as_str()]);
        }
        args.extend(extra);
        args.extend(["-w", "\n%{http_code}", url]);
        let (_, out) = self.run("curl", &args).await;
        let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }
}

/// The redirect the transparent sidecar and compose variants ship.
fn deploy_redirect() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/transparent/redirect.nft")
}

/// Binds `addr` inside the network namespace `netns` (on a thread of its own, which alone
/// enters the namespace); the socket stays in that namespace wherever it is served from.
fn bind_in(netns: &str, addr: SocketAddr) -> Result<std::net::TcpListener, String> {
    let path = format!("/run/netns/{netns}");
    std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| format!("setns {path}: {e}"))?;
        std::net::TcpListener::bind(addr).map_err(|e| format!("bind {addr} in {path}: {e}"))
    })
    .join()
    .map_err(|_| "the binding thread panicked".to_owned())?
}

fn succeeds(command: &mut std::process::Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// keyward with the redirect's socket as a transparent listener, an HTTPS upstream for
/// [`API`] (a rule allows it and injects a credential) and a plain one for [`PLAIN`]
/// (allowed host-wide); `None` (with the reason printed) when namespaces cannot be made.
async fn start(test: &str) -> Option<(Redirected, Running)> {
    start_for(test, None).await
}

/// As [`start`]; with `agent`, that agent (and another) is declared, the API rule is its
/// alone, and redirected connections are attributed to it.
async fn start_for(test: &str, agent: Option<&str>) -> Option<(Redirected, Running)> {
    let (ns, listener) = match Redirected::create() {
        Ok(made) => made,
        Err(why) => {
            assert!(
                std::env::var_os("KEYWARD_REQUIRE_JAIL").is_none(),
                "{test}: namespaces are required here but {why}"
            );
            eprintln!("skipping {test}: {why}");
            return None;
        }
    };
    let (agents, only) = match agent {
        Some(name) => (
            format!(
                "agents:\n  {name}: {{ token: \"file:$FILES/agent-token\" }}\n  other: {{ token: \"file:$FILES/agent-token\" }}\n"
            ),
            format!("    agents: [{name}]\n"),
        ),
        None => (String::new(), String::new()),
    };
    let transparent_agent = agent.map(str::to_owned);
    let rules = format!(
        "{agents}secrets:
  api:
    from: file:$FILES/api-token
    placeholder: {PLACEHOLDER}
    hosts: [{API}]
rules:
  - id: api-reads
    method: GET
    url: https://{API}/**
    inject: [api]
    decision: allow
{only}"
    );
    let running = Harness::new()
        .upstream(&[API], echo())
        .plain_upstream(&[PLAIN], echo())
        .allow(PLAIN)
        .file("api-token", VALUE)
        .file("agent-token", "agent-token-3f9d")
        .rules("api.yaml", &rules)
        .transparent_listener(listener)
        .config(move |c| c.transparent_agent = transparent_agent)
        .start()
        .await;
    Some((ns, running))
}

/// Every audit entry so far, once at least one matches `which`.
async fn entries(
    running: &Running,
    which: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let keyward = &running.keyward;
    let audit = keyward.running.handles().audit().unwrap();
    let all = audit_log::wait_for(audit, &keyward.audit_path(), 1, &which).await;
    all.into_iter().filter(|e| which(e)).collect()
}

fn reason(entry: &serde_json::Value) -> &str {
    entry["reason"].as_str().unwrap_or("")
}

#[tokio::test]
async fn https_by_sni_and_http_by_host_reach_their_upstreams_through_keyward() {
    let Some((ns, h)) = start("the transparent https/http test").await else {
        return;
    };
    let url = format!("https://{API}/v1/items?page=2");
    let auth = format!("Authorization: Bearer {PLACEHOLDER}");
    let (status, body) = ns
        .curl(&h.keyward, &url, &[&format!("{API}:443")], &["-H", &auth])
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = h.upstreams[0].seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].uri, "/v1/items?page=2");
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {VALUE}").as_str(),
        "the credential was injected"
    );
    let https = entries(&h, |e| e["host"] == API).await;
    assert_eq!(https[0]["scheme"], "https");
    assert_eq!(https[0]["port"], 443);
    assert_eq!(https[0]["decision"], "allow");
    assert_eq!(https[0]["rule"], "api-reads");
    assert_eq!(https[0]["credentials"], serde_json::json!(["api"]));

    let url = format!("http://{PLAIN}/plain/path");
    let (status, body) = ns
        .curl(&h.keyward, &url, &[&format!("{PLAIN}:80")], &[])
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = h.upstreams[1].seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].uri, "/plain/path");
    let plain = entries(&h, |e| e["host"] == PLAIN).await;
    assert_eq!(plain[0]["scheme"], "http");
    assert_eq!(plain[0]["port"], 80);
    assert_eq!(plain[0]["decision"], "allow");
    assert!(audit_log::verify(&h.keyward.audit_path()).contains("ok"));
}

#[tokio::test]
async fn redirected_connections_act_for_the_transparent_agent_not_for_proxy_credentials() {
    let Some((ns, h)) = start_for("the transparent agent test", Some("ci-bot")).await else {
        return;
    };
    let url = format!("https://{API}/v1/items");
    let pin = format!("{API}:443");
    // Credentials of another declared agent, which redirected connections do not read.
    let other = "Proxy-Authorization: Basic b3RoZXI6YWdlbnQtdG9rZW4tM2Y5ZA==";
    let (status, body) = ns.curl(&h.keyward, &url, &[&pin], &["-H", other]).await;
    assert_eq!(status, 200, "{body}");
    let entry = entries(&h, |e| e["host"] == API).await;
    assert_eq!(entry[0]["agent"], "ci-bot");
    assert_eq!(entry[0]["rule"], "api-reads");
    let seen = h.upstreams[0].seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(!seen[0].headers.contains_key("proxy-authorization"));
}

#[tokio::test]
async fn a_client_hello_without_sni_is_refused_audited_and_not_forwarded() {
    let Some((ns, h)) = start("the transparent no-SNI test").await else {
        return;
    };
    // curl sends no SNI for an IP literal.
    let url = format!("https://{ELSEWHERE}/v1/items");
    let (status, _) = ns.curl(&h.keyward, &url, &[], &["-k"]).await;
    assert_eq!(status, 0, "no TLS session was set up");
    let refused = entries(&h, |e| reason(e).contains("names no host (SNI)")).await;
    assert_eq!(refused[0]["decision"], "deny");
    assert_eq!(refused[0]["host"], ELSEWHERE.to_string());
    assert_eq!(refused[0]["port"], 443);
    assert_eq!(h.upstreams[0].count() + h.upstreams[1].count(), 0);
}

#[tokio::test]
async fn a_name_no_rule_admits_is_denied_with_its_403_and_audited() {
    let Some((ns, h)) = start("the transparent default-deny test").await else {
        return;
    };
    let url = format!("https://{DENIED}/secrets");
    let (status, body) = ns
        .curl(&h.keyward, &url, &[&format!("{DENIED}:443")], &[])
        .await;
    assert_eq!(status, 403, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "denied", "{json}");
    assert!(
        json["reason"].as_str().unwrap().contains("no rule"),
        "{json}"
    );
    let denied = entries(&h, |e| e["host"] == DENIED).await;
    assert_eq!(denied[0]["decision"], "deny");
    assert_eq!(denied[0]["status"], 403);
    assert_eq!(h.upstreams[0].count() + h.upstreams[1].count(), 0);
}

#[tokio::test]
async fn a_direct_connection_to_the_transparent_port_is_refused_and_audited() {
    let Some((ns, h)) = start("the transparent direct-connection test").await else {
        return;
    };
    // Loopback is not redirected: this reaches the port without a redirect.
    let url = format!("http://127.0.0.1:{}/", ns.port);
    let pin = format!("{PLAIN}:80");
    let (status, _) = ns
        .curl(
            &h.keyward,
            &url,
            &[&pin],
            &["-H", &format!("Host: {PLAIN}")],
        )
        .await;
    assert_eq!(status, 0, "the connection was closed without an answer");
    let refused = entries(&h, |e| reason(e).contains("no original destination")).await;
    assert_eq!(refused[0]["decision"], "deny");
    assert_eq!(h.upstreams[0].count() + h.upstreams[1].count(), 0);
}

#[tokio::test]
async fn connect_and_requests_without_a_usable_host_are_answered_400_and_audited() {
    let Some((ns, h)) = start("the transparent 400 test").await else {
        return;
    };
    let script = format!(
        r#"
import socket, sys
for raw in (b"CONNECT {API}:443 HTTP/1.1\r\nHost: {API}:443\r\n\r\n",
            b"GET /no-host HTTP/1.1\r\nConnection: close\r\n\r\n",
            b"GET /bad-host HTTP/1.1\r\nHost: exa mple.com\r\nConnection: close\r\n\r\n"):
    s = socket.create_connection(("{ELSEWHERE}", 80), timeout=10)
    s.sendall(raw)
    reply = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    sys.stdout.write(reply.decode(errors="replace").splitlines()[0] + "\n")
"#
    );
    let (ok, out) = ns.run("python3", &["-c", &script]).await;
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for line in lines {
        assert!(line.starts_with("HTTP/1.1 400"), "{out}");
    }
    let connect = entries(&h, |e| e["method"] == "CONNECT" && e["status"] == 400).await;
    assert!(
        reason(&connect[0]).contains("redirected connection"),
        "{connect:?}"
    );
    let no_host = entries(&h, |e| e["path"] == "/no-host" && e["status"] == 400).await;
    assert!(reason(&no_host[0]).contains("no Host"), "{no_host:?}");
    let bad_host = entries(&h, |e| e["path"] == "/bad-host" && e["status"] == 400).await;
    assert!(
        reason(&bad_host[0]).contains("invalid Host header"),
        "{bad_host:?}"
    );
    assert_eq!(h.upstreams[0].count() + h.upstreams[1].count(), 0);
}

#[tokio::test]
async fn transparent_listeners_need_a_declared_agent_when_agents_authenticate() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("agents.yaml"),
        "agents:\n  ci-bot:\n    token: env:KW_TRANSPARENT_UNUSED\nrules: []\n",
    )
    .unwrap();
    for (agent, expected) in [
        (None, "no transparent agent is named"),
        (Some("nobody"), "\"nobody\" is not declared"),
    ] {
        let config = keyward::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            transparent_listen: vec!["127.0.0.1:0".parse().unwrap()],
            transparent_agent: agent.map(str::to_owned),
            ca_dir: dir.path().join("certs"),
            rules_dir: rules.clone(),
            upstream_ca: vec![ca.path.clone()],
            audit: None,
            admin_listen: None,
            ..keyward::Config::default()
        };
        let err = match keyward::Proxy::bind(config).await {
            Ok(_) => panic!("started with transparent agent {agent:?}"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains(expected), "{err}");
    }
}
