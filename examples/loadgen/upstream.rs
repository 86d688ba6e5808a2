//! The benchmark's HTTPS upstream: a throwaway CA minted at run time and a hyper-util auto
//! server on 127.0.0.1:0 (h1 + h2 by ALPN) answering ~1 KiB of JSON, or `/big?bytes=N` as N
//! bytes streamed in 64 KiB chunks.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::ca::MintedCa;

/// The name the upstream's certificate is issued for (and keyward's `--resolve` pins).
pub const HOST: &str = "bench.example";
/// Size of one chunk of a `/big` body.
const CHUNK: usize = 64 * 1024;
/// Largest `/big` body the upstream agrees to send.
const MAX_BIG: u64 = 64 << 30;

/// The CA the upstream's certificate comes from, minted for this run.
pub fn ca() -> MintedCa {
    MintedCa::new("keyward loadgen upstream CA").unwrap()
}

/// The ALPN the upstream offers: h2 (unless `http1_only`) and http/1.1.
fn alpn(http1_only: bool) -> &'static [&'static [u8]] {
    if http1_only {
        &[b"http/1.1"]
    } else {
        &[b"h2", b"http/1.1"]
    }
}

/// A running upstream; dropping it stops accepting.
pub struct Upstream {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the upstream on the current runtime.
pub async fn start(ca: &MintedCa, http1_only: bool) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(ca.server_config(&[HOST], alpn(http1_only)));
    let json = json_body();
    let task = tokio::spawn(async move {
        // Runs until the benchmark drops the upstream (the task is aborted).
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                // Out of descriptors, most likely: let some close.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let json = json.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req| answer(req, json.clone()));
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Upstream { addr, task }
}

type BenchBody = Either<Full<Bytes>, Chunks>;

async fn answer(req: Request<Incoming>, json: Bytes) -> Result<Response<BenchBody>, Infallible> {
    let big = req.uri().path() == "/big";
    let query = req.uri().query().map(str::to_owned);
    // Read the request body whole, as a real API would before answering.
    let _ = req.into_body().collect().await;
    let resp = if big {
        let bytes = query_bytes(query.as_deref()).min(MAX_BIG);
        Response::builder()
            .header("content-type", "application/octet-stream")
            .header("content-length", bytes)
            .body(Either::Right(Chunks::new(bytes)))
    } else {
        Response::builder()
            .header("content-type", "application/json")
            .body(Either::Left(Full::new(json)))
    };
    Ok(resp.unwrap())
}

fn query_bytes(query: Option<&str>) -> u64 {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("bytes="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A ~1 KiB JSON document, built once.
fn json_body() -> Bytes {
    let items: Vec<_> = (0..16)
        .map(|i| serde_json::json!({"id": i, "name": format!("item-{i:04}"), "ok": true, "score": i * 7}))
        .collect();
    let doc = serde_json::json!({"object": "list", "model": "bench-1", "data": items});
    let mut text = serde_json::to_vec(&doc).unwrap();
    text.resize(1024.max(text.len()), b' ');
    Bytes::from(text)
}

/// `remaining` bytes as 64 KiB frames sliced from one shared buffer.
pub struct Chunks {
    remaining: u64,
    chunk: Bytes,
}

impl Chunks {
    fn new(bytes: u64) -> Self {
        Self {
            remaining: bytes,
            chunk: Bytes::from(vec![b'x'; CHUNK]),
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(CHUNK as u64);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..n as usize)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
