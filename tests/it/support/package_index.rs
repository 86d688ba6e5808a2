//! A PEP 503 "simple" package index served by the recording HTTPS test server: one tiny
//! wheel built at test time with Python's zipfile module, behind HTTP Basic authentication
//! that only the real secret passes.

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use sha2::{Digest, Sha256};

use super::upstream::{Handler, full};

/// The project the index serves.
pub const PROJECT: &str = "keyward-probe";
/// Its only wheel.
pub const WHEEL: &str = "keyward_probe-0.1.0-py3-none-any.whl";

/// Writes a valid pure-Python wheel (module `keyward_probe`) into `dir`; its bytes.
pub fn build_wheel(dir: &Path) -> Vec<u8> {
    let path = dir.join(WHEEL);
    let script = r#"
import base64, hashlib, sys, zipfile
files = {
    "keyward_probe/__init__.py": "VALUE = 'installed through keyward'\n",
    "keyward_probe-0.1.0.dist-info/METADATA":
        "Metadata-Version: 2.1\nName: keyward-probe\nVersion: 0.1.0\n",
    "keyward_probe-0.1.0.dist-info/WHEEL":
        "Wheel-Version: 1.0\nGenerator: keyward-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("keyward_probe-0.1.0.dist-info/RECORD,,")
    z.writestr("keyward_probe-0.1.0.dist-info/RECORD", "\n".join(record) + "\n")
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&path).unwrap()
}

/// Serves `/simple/`, `/simple/keyward-probe/` and the wheel under `/packages/`; requests
/// without Basic credentials whose password is `password` get 401.
pub fn index(wheel: Vec<u8>, password: String) -> Handler {
    let sha = hex(&Sha256::digest(&wheel));
    let wheel = Arc::new(wheel);
    Arc::new(move |req: Request<Incoming>| {
        let authorised = password_of(&req).is_some_and(|p| p == password);
        let path = req.uri().path().to_owned();
        let wheel = wheel.clone();
        let sha = sha.clone();
        Box::pin(async move {
            if !authorised {
                return Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("www-authenticate", "Basic realm=\"index\"")
                    .body(full("credentials required"))
                    .unwrap();
            }
            let page = |html: String| {
                Response::builder()
                    .header("content-type", "text/html")
                    .body(full(html))
                    .unwrap()
            };
            match path.as_str() {
                "/simple/" => page(format!("<a href=\"/simple/{PROJECT}/\">{PROJECT}</a>")),
                "/simple/keyward-probe/" => page(format!(
                    "<a href=\"/packages/{WHEEL}#sha256={sha}\">{WHEEL}</a>"
                )),
                p if p == format!("/packages/{WHEEL}") => Response::builder()
                    .header("content-type", "application/octet-stream")
                    .body(full(wheel.as_ref().clone()))
                    .unwrap(),
                _ => Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(full("not found"))
                    .unwrap(),
            }
        })
    })
}

fn password_of(req: &Request<Incoming>) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
