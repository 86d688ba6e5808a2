//! Hand-written bytes: raw requests over the proxy port or inside a TLS tunnel, the answer
//! read until keyward closes (bounded in time), and the audit entries for keyward's answers.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Keyward;

/// What came back for some raw bytes.
#[derive(Debug)]
pub struct RawReply {
    /// Everything read, lossily decoded.
    pub text: String,
    /// Whether keyward closed the connection within the time allowed.
    pub closed: bool,
}

impl RawReply {
    /// The status code of every response head in the answer, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.text
            .split("\r\n")
            .filter_map(|line| line.strip_prefix("HTTP/1.1 "))
            .filter_map(|rest| rest.get(..3)?.parse().ok())
            .collect()
    }

    /// The request ids of the answers keyward wrote itself (JSON bodies).
    pub fn request_ids(&self) -> Vec<String> {
        self.text
            .match_indices("\"request_id\":\"")
            .filter_map(|(at, key)| {
                let rest = &self.text[at + key.len()..];
                rest.find('"').map(|end| rest[..end].to_owned())
            })
            .collect()
    }
}

/// Writes `bytes` and reads until the peer closes, at most `wait`.
pub async fn roundtrip<S>(mut stream: S, bytes: &[u8], wait: Duration) -> RawReply
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // A refused request may be answered (and the socket closed) before all bytes are written.
    let _ = stream.write_all(bytes).await;
    let _ = stream.flush().await;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    let closed = loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
            Err(_) => break false,
        }
    };
    RawReply {
        text: String::from_utf8_lossy(&out).into_owned(),
        closed,
    }
}

/// Raw bytes on the proxy port.
pub async fn on_proxy_port(keyward: &Keyward, bytes: &[u8]) -> RawReply {
    let tcp = TcpStream::connect(keyward.addr).await.unwrap();
    roundtrip(tcp, bytes, Duration::from_secs(10)).await
}

/// Raw bytes inside an HTTP/1.1 TLS tunnel to `authority` (`host:port`).
pub async fn in_tunnel(keyward: &Keyward, authority: &str, bytes: &[u8]) -> RawReply {
    let agent = keyward.agent();
    let tcp = agent.connect(authority).await.unwrap();
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let sni = host.trim_end_matches('.').to_ascii_lowercase();
    let tls = agent.tls(tcp, &sni, &[b"http/1.1"]).await.unwrap();
    roundtrip(tls, bytes, Duration::from_secs(10)).await
}

/// The audit log, flushed.
pub async fn audit_log(keyward: &Keyward) -> String {
    keyward.running.handles().audit().unwrap().flush().await;
    std::fs::read_to_string(keyward.audit_path()).unwrap_or_default()
}

/// The audit entries whose `reason` starts with `prefix`, waiting (at most 10 s) until
/// there are `want` of them: entries for refusals outside any exchange are written when the
/// connection's task ends, just after the client saw the close.
pub async fn entries_with_reason(
    keyward: &Keyward,
    prefix: &str,
    want: usize,
) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    super::within_async(Duration::from_secs(10), async || {
        found = audit_log(keyward)
            .await
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["reason"].as_str().is_some_and(|r| r.starts_with(prefix)))
            .collect();
        (found.len() >= want).then_some(())
    })
    .await;
    found
}
