//! `keyward mcp`: the stdio transport for MCP clients that launch their servers as
//! processes. It relays each line of stdin as a POST to a running keyward's actions listener
//! and writes each answer as a line on stdout, so the policy stays in that one keyward.

use std::io::Write as _;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::tool_server::stdio::MAX_LINE;
use crate::tool_server::streamable::{MAX_BODY, SESSION_HEADER};
use crate::tool_server::{INVALID_REQUEST, PARSE_ERROR};

#[derive(Debug, Args)]
pub struct McpArgs {
    /// The running keyward's actions listener (`http://127.0.0.1:PORT/mcp`, see
    /// `--actions-listen`).
    #[arg(long, env = "KEYWARD_MCP_URL")]
    pub url: Uri,
    /// The agent to act as (declared under `agents:`).
    #[arg(long, env = "KEYWARD_AGENT")]
    pub agent: Option<String>,
    /// The agent's token.
    #[arg(long, env = "KEYWARD_AGENT_TOKEN", hide_env_values = true)]
    pub agent_token: Option<String>,
}

/// JSON-RPC code of an answer keyward's listener could not give (unreachable, refused).
const RELAY_FAILED: i64 = -32603;

pub fn run(args: McpArgs) -> anyhow::Result<u8> {
    if args.url.scheme_str() != Some("http") {
        bail!("--url must be http://HOST:PORT/mcp (the actions listener)");
    }
    let auth = match (&args.agent, &args.agent_token) {
        (Some(agent), Some(token)) => {
            let mut value = HeaderValue::from_str(&format!("Bearer {agent}:{token}"))
                .context("the agent name or token is not valid in a header")?;
            value.set_sensitive(true);
            Some(value)
        }
        (None, None) => None,
        _ => bail!("give both the agent and its token (KEYWARD_AGENT, KEYWARD_AGENT_TOKEN)"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(relay(args.url, auth))?;
    Ok(0)
}

/// Relays stdin to the listener until stdin ends.
async fn relay(url: Uri, auth: Option<HeaderValue>) -> anyhow::Result<()> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut input = BufReader::new(tokio::io::stdin());
    let mut output = tokio::io::stdout();
    let mut session: Option<HeaderValue> = None;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = (&mut input)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(());
        }
        let answer = if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            skip_line(&mut input).await?;
            Some(error(Value::Null, PARSE_ERROR, "a message over 1 MiB"))
        } else {
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            post(&client, &url, auth.as_ref(), &mut session, text).await
        };
        if let Some(answer) = answer {
            let mut bytes = serde_json::to_vec(&answer)?;
            bytes.push(b'\n');
            output.write_all(&bytes).await?;
            output.flush().await?;
        }
    }
}

/// Discards the rest of an over-long line.
async fn skip_line<R: tokio::io::AsyncBufRead + Unpin>(input: &mut R) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(at) = buf.iter().position(|b| *b == b'\n') {
            input.consume(at + 1);
            return Ok(());
        }
        let n = buf.len();
        input.consume(n);
    }
}

/// POSTs one message; its answer, or a JSON-RPC error for a request the listener did not
/// answer (`None` for a notification, or when nothing is to be answered).
async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &Uri,
    auth: Option<&HeaderValue>,
    session: &mut Option<HeaderValue>,
    message: &[u8],
) -> Option<Value> {
    let id = serde_json::from_slice::<Value>(message)
        .ok()
        .and_then(|m| m.get("id").cloned());
    let mut req = Request::post(url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json");
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth.clone());
    }
    if let Some(session) = session.as_ref() {
        req = req.header(SESSION_HEADER, session.clone());
    }
    let failed = |why: String| id.clone().map(|id| error(id, RELAY_FAILED, &why));
    let req = match req.body(Full::new(Bytes::copy_from_slice(message))) {
        Ok(req) => req,
        Err(e) => return failed(e.to_string()),
    };
    let resp = match client.request(req).await {
        Ok(resp) => resp,
        Err(e) => return failed(format!("keyward's actions listener at {url}: {e}")),
    };
    if let Some(sid) = resp.headers().get(SESSION_HEADER) {
        *session = Some(sid.clone());
    }
    let status = resp.status();
    let body = match Limited::new(resp.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return failed("the answer could not be read".into()),
    };
    if status == StatusCode::ACCEPTED {
        return None;
    }
    if !status.is_success() {
        let why = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "keyward mcp: {status} {why}");
        return match id {
            Some(id) => Some(error(
                id,
                RELAY_FAILED,
                &format!("keyward answered {status}: {why}"),
            )),
            None if status == StatusCode::BAD_REQUEST => {
                Some(error(Value::Null, INVALID_REQUEST, &why))
            }
            None => None,
        };
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(answer) => Some(answer),
        Err(_) => failed("keyward's answer is not JSON".into()),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}
