//! `keyward approvals list | approve ID [--for 10m] | deny ID --reason …`: a client of the
//! admin API of a running keyward.

use std::io::Write;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// The admin API of the running keyward.
    #[arg(long, default_value = "http://127.0.0.1:3129", global = true)]
    pub admin: String,
    /// The admin token (also read from KEYWARD_ADMIN_TOKEN).
    #[arg(
        long,
        env = "KEYWARD_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Requests waiting for a person.
    List,
    /// Let a held request through.
    Approve {
        id: String,
        /// Also approve identical follow-up requests for this long (e.g. 10m).
        #[arg(long = "for", value_name = "DURATION")]
        window: Option<String>,
        /// Who approves (recorded in the audit log).
        #[arg(long)]
        by: Option<String>,
    },
    /// Refuse a held request; the agent gets 403 with the reason.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        by: Option<String>,
    },
}

pub fn run(args: ApprovalsArgs) -> anyhow::Result<u8> {
    let (method, path, body) = match &args.command {
        ApprovalsCommand::List => ("GET", "/approvals".to_owned(), serde_json::Value::Null),
        ApprovalsCommand::Approve { id, window, by } => (
            "POST",
            format!("/approvals/{id}/approve"),
            serde_json::json!({ "for": window, "by": by }),
        ),
        ApprovalsCommand::Deny { id, reason, by } => (
            "POST",
            format!("/approvals/{id}/deny"),
            serde_json::json!({ "reason": reason, "by": by }),
        ),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, text) = runtime.block_on(call(
        &args.admin,
        args.token.as_deref(),
        method,
        &path,
        &body,
    ))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(if status.is_success() { 0 } else { 1 })
}

async fn call(
    admin: &str,
    token: Option<&str>,
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
    if let Some(token) = token {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let resp = sender.send_request(req.body(Full::new(bytes))?).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
