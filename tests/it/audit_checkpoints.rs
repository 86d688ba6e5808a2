//! Signed checkpoints end to end with the real binary: `keyward audit keygen`, two replicas
//! writing through `keyward run` with `audit.checkpoints` in keyward.yaml (rotating by size),
//! `keyward audit verify --public-key` over both replicas' files, and each tampering named
//! by file and line: a rewritten entry, a cut file the next file proves, a cut tail (unsigned),
//! a forged checkpoint, another key. The private key never appears in any output or log.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use http::Response;

use crate::support::upstream::full;
use crate::support::{Handler, TestCa, Upstream};

/// Requests per `keyward run` (one curl with this many URLs).
const REQUESTS: usize = 5;

fn ok() -> Handler {
    Arc::new(|_req| Box::pin(async { Response::new(full("ok")) }))
}

fn keyward(args: &[&std::ffi::OsStr]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .unwrap()
}

/// `keyward audit verify --public-key KEY FILES…`: exit status and stdout.
fn verify(key: &Path, files: &[PathBuf]) -> (bool, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["audit".as_ref(), "verify".as_ref()];
    args.push("--public-key".as_ref());
    args.push(key.as_os_str());
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = keyward(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), stdout)
}

fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let out = keyward(&[
        "audit".as_ref(),
        "keygen".as_ref(),
        "--private".as_ref(),
        private.as_os_str(),
        "--public".as_ref(),
        public.as_os_str(),
    ]);
    assert!(out.status.success(), "{out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    (private, public)
}

/// One replica: its keyward.yaml, log and the outputs of its runs.
struct Replica {
    config: PathBuf,
    log: PathBuf,
    outputs: Vec<String>,
}

impl Replica {
    fn new(work: &Path, name: &str, key: &Path) -> Self {
        let log = work.join(format!("{name}.jsonl"));
        let config = work.join(format!("{name}.yaml"));
        let yaml = format!(
            "audit:\n  path: {}\n  replica: {name}\n  rotate_bytes: 2000\n  checkpoints:\n    key: file:{}\n    every: 2\n",
            log.display(),
            key.display()
        );
        std::fs::write(&config, yaml).unwrap();
        Replica {
            config,
            log,
            outputs: Vec::new(),
        }
    }

    /// `keyward run -- curl …` sending [`REQUESTS`] requests through keyward.
    async fn run(&mut self, work: &Path, ca: &TestCa, upstream: &Upstream, tag: &str) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"));
        cmd.current_dir(work)
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .arg("--ca-dir")
            .arg(work.join("certs"))
            .arg("--rules")
            .arg(work.join("rules"))
            .arg("--upstream-ca")
            .arg(&ca.path)
            .arg("--resolve")
            .arg(format!("api.example.com:443:{}", upstream.addr))
            .args(["--allow", "api.example.com", "--", "curl", "-sS", "--fail"]);
        for i in 0..REQUESTS {
            cmd.arg(format!("https://api.example.com/{tag}/{i}"));
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{tag}: {text}");
        self.outputs.push(text);
    }

    fn files(&self) -> Vec<PathBuf> {
        keyward::audit::log_files(&self.log).unwrap()
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

/// A copy of `files` in `dir` (rotated names kept), for one tampering.
fn copy(files: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .map(|f| {
            let to = dir.join(f.file_name().unwrap());
            std::fs::copy(f, &to).unwrap();
            to
        })
        .collect()
}

fn is_checkpoint(line: &str) -> bool {
    line.contains(r#""kind":"checkpoint""#)
}

#[tokio::test]
async fn signed_logs_of_two_replicas_verify_and_each_tampering_is_named() {
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.example.com"], &[b"http/1.1"], ok()).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("rules")).unwrap();
    let (private, public) = keygen(work.path(), "audit-key");
    let mut a = Replica::new(work.path(), "kw-a", &private);
    let mut b = Replica::new(work.path(), "kw-b", &private);
    a.run(work.path(), &ca, &upstream, "a1").await;
    b.run(work.path(), &ca, &upstream, "b1").await;
    a.run(work.path(), &ca, &upstream, "a2").await;
    assert_eq!(upstream.count(), 3 * REQUESTS);

    // Both replicas together, files in any order: grouped by replica, each chain signed.
    let a_files = a.files();
    assert!(
        a_files.len() >= 2,
        "kw-a's log should have rotated: {a_files:?}"
    );
    let mut all = b.files();
    all.extend(a_files.iter().cloned());
    let (ok, out) = verify(&public, &all);
    assert!(ok, "{out}");
    assert!(out.contains("replica kw-b: 5 entries"), "{out}");
    assert!(out.contains("replica kw-a: 10 entries"), "{out}");
    assert!(out.contains("signed through seq 10"), "{out}");
    assert!(!out.contains("unsigned tail"), "{out}");
    // Each rotated file is closed by a checkpoint.
    for f in &a_files {
        assert!(
            lines(f).last().is_some_and(|l| is_checkpoint(l)),
            "{}",
            f.display()
        );
    }

    // A rewritten entry.
    let t = copy(&a_files, &work.path().join("edited"));
    let mut l = lines(&t[0]);
    l[0] = l[0].replace(r#""status":200"#, r#""status":201"#);
    write_lines(&t[0], &l);
    let (ok, out) = verify(&public, &t);
    assert!(!ok);
    assert!(
        out.contains(&format!("{}:1: hash mismatch", t[0].display())),
        "{out}"
    );

    // The first file cut before its closing checkpoint: the next file proves the loss.
    let t = copy(&a_files, &work.path().join("cut"));
    let l = lines(&t[0]);
    write_lines(&t[0], &l[..1]);
    let (ok, out) = verify(&public, &t);
    assert!(!ok);
    assert!(
        out.contains(&format!("{}:1: entries 2 to ", t[1].display())) && out.contains("missing"),
        "{out}"
    );

    // The live file's last checkpoint cut off: what it signed is now an unsigned tail.
    let t = copy(&a_files, &work.path().join("tail"));
    let live = t.last().unwrap();
    let mut l = lines(live);
    assert!(is_checkpoint(l.last().unwrap()));
    l.pop();
    write_lines(live, &l);
    let (ok, out) = verify(&public, &t);
    assert!(ok, "{out}");
    assert!(out.contains("unsigned tail: replica kw-a:"), "{out}");

    // A forged checkpoint: its count raised and its hash recomputed.
    let t = copy(&a_files, &work.path().join("forged"));
    let mut l = lines(&t[0]);
    let at = l.iter().position(|x| is_checkpoint(x)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&l[at]).unwrap();
    v["seq"] = serde_json::Value::from(99);
    v["hash"] = keyward::audit::chain::expected_hash(&v).unwrap().into();
    l[at] = v.to_string();
    write_lines(&t[0], &l);
    let (ok, out) = verify(&public, &t[..1]);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "{}:{}: checkpoint signature does not verify",
            t[0].display(),
            at + 1
        )),
        "{out}"
    );

    // Another key.
    let (_, other) = keygen(work.path(), "other-key");
    let (ok, out) = verify(&other, &a_files);
    assert!(!ok);
    assert!(out.contains("checkpoint signed by another key"), "{out}");

    // The private key is in no output and no log.
    let pem = std::fs::read_to_string(&private).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut texts: Vec<String> = a.outputs.iter().chain(&b.outputs).cloned().collect();
    texts.extend(all.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    for text in &texts {
        assert!(!text.contains(&body), "the signing key leaked");
    }
}

/// A key made with `openssl genpkey -algorithm ed25519` signs, and its public half
/// verifies; a missing key file stops keyward with an error naming the source only.
#[tokio::test]
async fn an_openssl_key_signs_and_a_missing_key_stops_keyward() {
    let ca = TestCa::new();
    let upstream = Upstream::https(&ca, &["api.example.com"], &[b"http/1.1"], ok()).await;
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("rules")).unwrap();
    let private = work.path().join("ossl.pem");
    let public = work.path().join("ossl.pub.pem");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&private)
        .status()
        .expect("openssl is installed by scripts/test");
    assert!(made.success());
    let pubout = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .status()
        .unwrap();
    assert!(pubout.success());
    let mut r = Replica::new(work.path(), "kw-o", &private);
    r.run(work.path(), &ca, &upstream, "o").await;
    let (ok, out) = verify(&public, &r.files());
    assert!(ok, "{out}");
    assert!(out.contains("replica kw-o: 5 entries"), "{out}");

    let missing = work.path().join("nope.pem");
    let bad = Replica::new(work.path(), "kw-x", &missing);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .current_dir(work.path())
        .arg("serve")
        .arg("--config")
        .arg(&bad.config)
        .arg("--ca-dir")
        .arg(work.path().join("certs"))
        .arg("--rules")
        .arg(work.path().join("rules"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("audit signing key") && stderr.contains("nope.pem"),
        "{stderr}"
    );
    assert!(!bad.log.exists() || lines(&bad.log).is_empty());
}
