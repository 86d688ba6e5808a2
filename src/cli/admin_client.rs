//! The admin API's client side for `keyward approvals` and `keyward agents`: where the
//! running keyward's admin API is, and its token, from KEYWARD_ADMIN_TOKEN (never from the
//! command line, where every process could read it), `--token-file`, or the token keyward
//! generated in its CA directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::control::admin::tokens::{GENERATED_TOKEN_FILE, read_token_file};
use crate::secret::SecretValue;

/// Where the admin API is and how to authenticate to it.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The admin API of the running keyward.
    #[arg(long, default_value = "http://127.0.0.1:3129", global = true)]
    pub admin: String,
    /// The admin token, from the environment only (a token on the command line would be
    /// visible to every process).
    #[arg(skip = std::env::var("KEYWARD_ADMIN_TOKEN").ok())]
    pub token: Option<String>,
    /// A file holding the admin token [default: admin-token in the CA directory].
    #[arg(long, value_name = "FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// keyward's CA directory, where it generates its admin token [default: certs].
    #[arg(long, value_name = "DIR", default_value = "certs", global = true)]
    pub ca_dir: PathBuf,
}

impl AdminArgs {
    /// One call of the admin API with the token: its status and body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<(http::StatusCode, String)> {
        let token = admin_token(
            self.token.as_deref(),
            self.token_file.as_deref(),
            &self.ca_dir,
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(call(&self.admin, token.expose(), method, path, body))
    }
}

/// The token from KEYWARD_ADMIN_TOKEN, `--token-file`, or the CA directory.
fn admin_token(
    token: Option<&str>,
    token_file: Option<&Path>,
    ca_dir: &Path,
) -> anyhow::Result<SecretValue> {
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        return Ok(SecretValue::new(token.trim()));
    }
    let path = token_file.map_or_else(|| ca_dir.join(GENERATED_TOKEN_FILE), Path::to_path_buf);
    read_token_file(&path).with_context(|| {
        "no admin token: set KEYWARD_ADMIN_TOKEN, pass --token-file, or --ca-dir of the keyward that generated one"
    })
}

/// One call of the admin API at `admin`: its status and body.
async fn call(
    admin: &str,
    token: &[u8],
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(http::StatusCode, String)> {
    let uri: http::Uri = admin
        .parse()
        .with_context(|| format!("invalid admin URL {admin}"))?;
    let Some(authority) = uri.authority() else {
        bail!("admin URL {admin} has no host");
    };
    let tcp = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .with_context(|| format!("cannot reach the admin API at {admin}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let bytes = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::to_vec(body)?)
    };
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, authority.as_str())
        .header(http::header::CONTENT_TYPE, "application/json");
    let mut authorization = b"Bearer ".to_vec();
    authorization.extend_from_slice(token);
    let mut value = http::HeaderValue::from_bytes(&authorization)
        .context("the admin token is not a valid header value")?;
    value.set_sensitive(true);
    req = req.header(http::header::AUTHORIZATION, value);
    let resp = sender.send_request(req.body(Full::new(bytes))?).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
