//! Test upstreams: real HTTPS (HTTP/1.1 and/or h2 by ALPN) or plain HTTP servers on
//! 127.0.0.1:0 that record every request head that reaches them.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, Version};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::TestCa;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestBody = BoxBody<Bytes, BoxError>;
pub type Handler = Arc<
    dyn Fn(Request<Incoming>) -> Pin<Box<dyn Future<Output = Response<TestBody>> + Send>>
        + Send
        + Sync,
>;

/// A request head as it reached the upstream.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
}

pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// An HTTPS upstream with a certificate for `names`, offering `alpn`.
    pub async fn https(ca: &TestCa, names: &[&str], alpn: &[&[u8]], handler: Handler) -> Self {
        Self::start(
            "127.0.0.1:0",
            Some(TlsAcceptor::from(ca.server_config(names, alpn))),
            handler,
        )
        .await
    }

    /// An HTTPS upstream bound to `bind` (e.g. `[::1]:0`).
    pub async fn https_on(bind: &str, ca: &TestCa, names: &[&str], handler: Handler) -> Self {
        Self::start(
            bind,
            Some(TlsAcceptor::from(
                ca.server_config(names, &[b"h2", b"http/1.1"]),
            )),
            handler,
        )
        .await
    }

    /// A plain-HTTP upstream.
    pub async fn plain(handler: Handler) -> Self {
        Self::start("127.0.0.1:0", None, handler).await
    }

    async fn start(bind: &str, tls: Option<TlsAcceptor>, handler: Handler) -> Self {
        let listener = TcpListener::bind(bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let tls = tls.clone();
                let handler = handler.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        seen.lock().unwrap().push(Seen {
                            method: req.method().to_string(),
                            uri: req.uri().to_string(),
                            version: req.version(),
                            headers: req.headers().clone(),
                        });
                        let fut = handler(req);
                        async move { Ok::<_, std::convert::Infallible>(fut.await) }
                    });
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                                .await;
                        }
                        None => {
                            let _ = builder
                                .serve_connection_with_upgrades(TokioIo::new(tcp), service)
                                .await;
                        }
                    }
                });
            }
        });
        Self { addr, seen, task }
    }

    /// Request heads received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests reached this upstream.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).map_err(|n| match n {}).boxed()
}

/// `bytes` streamed one byte per data frame (so whatever spans them is split everywhere).
pub fn byte_by_byte(bytes: &[u8]) -> TestBody {
    let frames: Vec<Result<Frame<Bytes>, BoxError>> = bytes
        .chunks(1)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

/// The bearer token `req` carries (empty when it carries none).
pub fn bearer_token(req: &Request<Incoming>) -> String {
    let auth = req
        .headers()
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    auth.strip_prefix("Bearer ").unwrap_or("").to_owned()
}

/// Answers with a JSON echo of the request: method, path, query, version, headers, body.
pub fn echo() -> Handler {
    Arc::new(|req: Request<Incoming>| {
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let headers: serde_json::Map<String, serde_json::Value> = parts
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
                .collect();
            let json = serde_json::json!({
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "query": parts.uri.query(),
                "version": format!("{:?}", parts.version),
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            Response::builder()
                .header("content-type", "application/json")
                .body(full(serde_json::to_vec(&json).unwrap()))
                .unwrap()
        })
    })
}
