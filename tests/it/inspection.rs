//! keyward is closed to inspection by processes of its own user: the command of `keyward
//! run` (its child) and an unrelated process can read neither `/proc/PID/environ`, `mem` nor
//! `maps` of keyward, nor attach to it with ptrace, while the same probe does all of that to
//! an ordinary process of the same user (the control). When the tests run as root, keyward
//! and the probes run as an unprivileged user (root could read anything).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::child;

/// The unprivileged user keyward and the probes run as when the tests run as root.
const UID: u32 = 65534;
/// The real secret keyward holds in its environment.
const SECRET: &str = "kwsec_probe_3e9a0c7b51d24f68";

/// Tries each way in to PID (argv[1], or the parent with `parent`) and to a `sleep` of the
/// same user started by the probe itself; prints one JSON object.
const PROBE: &str = r#"
import ctypes, json, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH, WALL = 16, 17, 0x40000000

def opened(pid, name):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            data = f.read(65536) if name != "mem" else b""
        return "read", data
    except PermissionError:
        return "denied", b""
    except OSError as e:
        return f"error {e.errno}", b""

def ptrace(pid):
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) == 0:
        os.waitpid(pid, WALL)
        libc.ptrace(PTRACE_DETACH, pid, None, None)
        return "attached"
    errno = ctypes.get_errno()
    return "denied" if errno in (1, 13) else f"error {errno}"

def probe(pid):
    out, seen = {}, b""
    for name in ("environ", "mem", "maps"):
        out[name], data = opened(pid, name)
        seen += data
    out["ptrace"] = ptrace(pid)
    out["secret_seen"] = SECRET.encode() in seen
    return out

SECRET = sys.argv[2]
target = os.getppid() if sys.argv[1] == "parent" else int(sys.argv[1])
sibling = subprocess.Popen(["sleep", "30"], env={"KW_PROBE_SECRET": SECRET})
try:
    # The control's environment is readable once its exec is complete: wait for it (bounded).
    for _ in range(200):
        if SECRET.encode() in opened(sibling.pid, "environ")[1]:
            break
        time.sleep(0.01)
    control = probe(sibling.pid)
finally:
    sibling.kill()
print(json.dumps({"target": probe(target), "control": control, "own_env": SECRET in str(os.environ)}))
"#;

/// Where the probe may run: the binary, the script and keyward's work directory, all
/// reachable by the unprivileged user.
struct Stage {
    dir: tempfile::TempDir,
    keyward: PathBuf,
    python: PathBuf,
    as_root: bool,
}

impl Stage {
    fn new() -> Option<Stage> {
        let as_root = rustix::process::getuid().is_root();
        if as_root && !Path::new("/usr/bin/setpriv").exists() {
            println!("note: running as root without setpriv; inspection test skipped");
            return None;
        }
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .or_else(|| (!as_root).then(|| PathBuf::from("python3")));
        let Some(python) = python else {
            println!("note: no system python3 for the unprivileged probe; test skipped");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let keyward = dir.path().join("keyward");
        std::fs::copy(env!("CARGO_BIN_EXE_keyward"), &keyward).unwrap();
        std::fs::write(dir.path().join("probe.py"), PROBE).unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(
            rules.join("probe.yaml"),
            "secrets:\n  probe:\n    from: env:KW_PROBE_SECRET\n    placeholder: keyward:probe:0a1b2c3d4e5f6a7b\n    env: KW_PROBE_SECRET\n    hosts: [api.example.com]\nrules: []\n",
        )
        .unwrap();
        if as_root {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
            for path in [dir.path(), &rules, &rules.join("probe.yaml")] {
                std::os::unix::fs::chown(path, Some(UID), Some(UID)).unwrap();
            }
        }
        Some(Stage {
            dir,
            keyward,
            python,
            as_root,
        })
    }

    /// `program` with `args`, as the unprivileged user when the tests run as root.
    fn command(&self, program: &Path, args: &[&str]) -> tokio::process::Command {
        let mut c = if self.as_root {
            let mut c = tokio::process::Command::new("/usr/bin/setpriv");
            c.args([
                format!("--reuid={UID}"),
                format!("--regid={UID}"),
                "--clear-groups".to_owned(),
            ])
            .arg(program);
            c
        } else {
            tokio::process::Command::new(program)
        };
        c.args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path());
        c
    }

    fn keyward_args(&self, command: &str) -> Vec<String> {
        let d = self.dir.path().display();
        vec![
            command.to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            format!("--ca-dir={d}/certs"),
            format!("--rules={d}/rules"),
            format!("--audit-log={d}/audit.jsonl"),
        ]
    }

    fn probe_args(&self, target: &str) -> Vec<String> {
        vec![
            self.dir.path().join("probe.py").display().to_string(),
            target.to_owned(),
            SECRET.to_owned(),
        ]
    }
}

/// Runs `command` (the probe, or keyward running it) to its end and checks what the probe
/// reports with [`assert_closed`].
async fn assert_probe_found_keyward_closed(mut command: tokio::process::Command) {
    let out = command.stdin(Stdio::null()).output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_closed(&String::from_utf8_lossy(&out.stdout));
}

/// Asserts that the probe got nothing of keyward and everything of the control.
fn assert_closed(report: &str) {
    let report: serde_json::Value = serde_json::from_str(report.trim())
        .unwrap_or_else(|e| panic!("probe output {report:?}: {e}"));
    for way in ["environ", "mem", "maps"] {
        assert_eq!(report["control"][way], "read", "control {way}: {report}");
        assert_eq!(report["target"][way], "denied", "keyward's {way}: {report}");
    }
    assert_eq!(report["control"]["ptrace"], "attached", "{report}");
    assert_eq!(report["control"]["secret_seen"], true, "{report}");
    assert_eq!(report["target"]["ptrace"], "denied", "{report}");
    assert_eq!(report["target"]["secret_seen"], false, "{report}");
    assert_eq!(report["own_env"], false, "{report}");
}

#[tokio::test]
async fn the_command_of_keyward_run_cannot_inspect_keyward() {
    let Some(stage) = Stage::new() else { return };
    let mut args = stage.keyward_args("run");
    args.push("--".into());
    args.push(stage.python.display().to_string());
    args.extend(stage.probe_args("parent"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = stage.command(&stage.keyward, &args);
    command.env("KW_PROBE_SECRET", SECRET);
    assert_probe_found_keyward_closed(command).await;
}

#[tokio::test]
async fn another_process_of_the_same_user_cannot_inspect_keyward_serve() {
    let Some(stage) = Stage::new() else { return };
    let args = stage.keyward_args("serve");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut command = stage.command(&stage.keyward, &args);
    command.env("KW_PROBE_SECRET", SECRET);
    let logs = tempfile::tempdir().unwrap();
    let keyward = child::spawn(command, logs.path()).await;
    let probe_args = stage.probe_args(&keyward.pid.to_string());
    let probe_args: Vec<&str> = probe_args.iter().map(String::as_str).collect();
    assert_probe_found_keyward_closed(stage.command(&stage.python, &probe_args)).await;
}
