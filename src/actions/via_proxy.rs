//! Sends an action's request through keyward's own proxy port, as an agent would (CONNECT,
//! TLS trusting keyward's CA, HTTP/1.1 inside; plain `http://` in absolute form), so the
//! rules, approvals, credential injection, redaction and audit treat it exactly like a
//! proxied request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderValue, PROXY_AUTHORIZATION};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The largest CONNECT answer head read.
const MAX_HEAD: usize = 16 * 1024;
/// The largest answer body read.
pub const MAX_ANSWER: usize = 8 << 20;
/// How long one call may take in all, a held call's wait for a person included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Why the proxy could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("cannot reach keyward's proxy at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("talking to keyward's proxy: {0}")]
    Io(#[from] std::io::Error),
    #[error("keyward's proxy answered CONNECT with a malformed head")]
    MalformedHead,
    #[error("the request's host {0:?} is not a valid TLS name")]
    ServerName(String),
    #[error("the request has no host")]
    NoHost,
    #[error("HTTP through keyward's proxy: {0}")]
    Http(#[from] hyper::Error),
    #[error("the answer could not be read (over {MAX_ANSWER} bytes or broken)")]
    Body,
    #[error("the call took longer than {CALL_TIMEOUT:?}")]
    Timeout,
}

/// An answer, fully read.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A client of keyward's own proxy port.
#[derive(Clone)]
pub struct ProxyClient {
    /// The proxy port.
    proxy: SocketAddr,
    /// TLS trusting only keyward's CA (the leaves the proxy presents).
    tls: TlsConnector,
}

impl ProxyClient {
    /// A client of the proxy at `proxy` whose CA is `ca`.
    pub fn new(proxy: SocketAddr, ca: CertificateDer<'static>) -> Result<Self, rustls::Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca)?;
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            proxy,
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends `req` (absolute URI) with `auth` as `Proxy-Authorization`; bounded by
    /// [`CALL_TIMEOUT`].
    pub async fn send(
        &self,
        req: Request<Bytes>,
        auth: Option<HeaderValue>,
    ) -> Result<Answer, SendError> {
        tokio::time::timeout(CALL_TIMEOUT, self.send_unbounded(req, auth))
            .await
            .map_err(|_| SendError::Timeout)?
    }

    async fn send_unbounded(
        &self,
        req: Request<Bytes>,
        auth: Option<HeaderValue>,
    ) -> Result<Answer, SendError> {
        let (mut parts, body) = req.into_parts();
        let host = parts.uri.host().ok_or(SendError::NoHost)?.to_owned();
        let https = parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = parts.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or(SendError::NoHost)?;
        if let Ok(value) = HeaderValue::from_str(&authority) {
            parts.headers.insert(HOST, value);
        }
        let mut tcp =
            TcpStream::connect(self.proxy)
                .await
                .map_err(|source| SendError::Connect {
                    addr: self.proxy,
                    source,
                })?;
        if !https {
            // Plain HTTP: absolute form, the credentials on the request itself.
            if let Some(auth) = auth {
                parts.headers.insert(PROXY_AUTHORIZATION, auth);
            }
            return exchange(TokioIo::new(tcp), Request::from_parts(parts, body)).await;
        }
        let target = match host.contains(':') {
            true => format!("[{host}]:{port}"),
            false => format!("{host}:{port}"),
        };
        let auth_line = auth
            .as_ref()
            .and_then(|a| a.to_str().ok())
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        tcp.write_all(
            format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth_line}\r\n").as_bytes(),
        )
        .await?;
        if let Some(refused) = read_connect_answer(&mut tcp).await? {
            return Ok(refused);
        }
        let name = ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        )
        .map_err(|_| SendError::ServerName(host.clone()))?;
        let tls = self.tls.connect(name, tcp).await?;
        parts.uri = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|_| SendError::MalformedHead)?;
        exchange(TokioIo::new(tls), Request::from_parts(parts, body)).await
    }
}

/// One HTTP/1.1 exchange over `io`.
async fn exchange<T>(io: TokioIo<T>, req: Request<Bytes>) -> Result<Answer, SendError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let resp = sender.send_request(req.map(Full::new)).await?;
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|_| SendError::Body)?
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Reads the CONNECT answer: `None` on 200 (the tunnel is open), else the refusal.
async fn read_connect_answer(tcp: &mut TcpStream) -> Result<Option<Answer>, SendError> {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(SendError::MalformedHead);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(SendError::MalformedHead);
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    head.parse(&buf[..end])
        .map_err(|_| SendError::MalformedHead)?;
    let status = head
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(SendError::MalformedHead)?;
    if status == StatusCode::OK {
        return Ok(None);
    }
    let mut map = HeaderMap::new();
    let mut length = 0usize;
    for h in head.headers.iter() {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) {
            if name == http::header::CONTENT_LENGTH {
                length = value
                    .to_str()
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
            }
            map.append(name, value);
        }
    }
    let mut body = buf[end..].to_vec();
    let length = length.min(MAX_HEAD);
    while body.len() < length {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(Some(Answer {
        status,
        headers: map,
        body: Bytes::from(body),
    }))
}
