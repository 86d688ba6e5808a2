//! The benchmark's client side: TCP (+ CONNECT through keyward) + TLS with SNI
//! `bench.example`, HTTP/1.1 over it, and requests (the policy's JSON POST, or a GET) whose
//! response body is read and discarded.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::policy;
pub use crate::upstream::HOST;

/// Largest CONNECT response head accepted.
const MAX_CONNECT_HEAD: usize = 8 * 1024;

/// An HTTP/1.1 connection ready to send requests.
pub type Sender = SendRequest<Full<Bytes>>;

/// How a connection reaches the upstream.
#[derive(Clone, Copy, Debug)]
pub enum Route {
    /// TCP straight to the upstream.
    Direct(SocketAddr),
    /// `CONNECT bench.example:443` to keyward, then TLS inside the tunnel.
    Keyward(SocketAddr),
}

/// Opens connections along one route, trusting one CA.
#[derive(Clone)]
pub struct Dialer {
    route: Route,
    tls: TlsConnector,
}

impl Dialer {
    /// `ca_pem` is the CA the TLS server's certificate chains to. Session resumption is off,
    /// so every new connection pays a full handshake.
    pub fn new(route: Route, ca_pem: &[u8]) -> Self {
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
            roots.add(cert.unwrap()).unwrap();
        }
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Self {
            route,
            tls: TlsConnector::from(Arc::new(config)),
        }
    }

    /// TCP (+ CONNECT) + TLS handshake.
    pub async fn tls(&self) -> anyhow::Result<TlsStream<TcpStream>> {
        let tcp = match self.route {
            Route::Direct(addr) => TcpStream::connect(addr).await?,
            Route::Keyward(proxy) => {
                let mut tcp = TcpStream::connect(proxy).await?;
                tcp.set_nodelay(true)?;
                connect_tunnel(&mut tcp).await?;
                tcp
            }
        };
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(HOST)?;
        Ok(self.tls.connect(name, tcp).await?)
    }

    /// A new HTTP/1.1 connection; its driver runs on a task until the sender is dropped.
    pub async fn h1(&self) -> anyhow::Result<Sender> {
        let tls = self.tls().await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }
}

/// Sends `CONNECT bench.example:443` and checks for a 200. keyward sends nothing after the
/// head until the client speaks TLS, so reading in blocks cannot swallow tunnel bytes.
async fn connect_tunnel(tcp: &mut TcpStream) -> anyhow::Result<()> {
    let request = format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut head = Vec::with_capacity(256);
    let mut block = [0u8; 512];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_CONNECT_HEAD {
            bail!("CONNECT response head too large");
        }
        let n = tcp.read(&mut block).await?;
        if n == 0 {
            bail!("keyward closed the connection before answering CONNECT");
        }
        head.extend_from_slice(&block[..n]);
    }
    let status_line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    if !status_line.starts_with(b"HTTP/1.1 200") {
        bail!("CONNECT refused: {}", String::from_utf8_lossy(&head));
    }
    Ok(())
}

/// GET `path` on an open connection; reads and discards the body, returns its length.
pub async fn get(sender: &mut Sender, path: &str) -> anyhow::Result<u64> {
    let req = Request::get(path)
        .header("host", HOST)
        .header("user-agent", "keyward-loadgen")
        .body(Full::default())?;
    send(sender, req).await
}

/// The benchmark's request: POST of the policy's JSON body to its items route (inspected
/// by the `bench-items` rule); reads and discards the response, returns its length.
pub async fn post_items(sender: &mut Sender) -> anyhow::Result<u64> {
    let body = policy::request_body();
    let req = Request::post(policy::ITEMS_PATH)
        .header("host", HOST)
        .header("user-agent", "keyward-loadgen")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(Full::new(Bytes::from_static(body.as_bytes())))?;
    send(sender, req).await
}

async fn send(sender: &mut Sender, req: Request<Full<Bytes>>) -> anyhow::Result<u64> {
    sender.ready().await.context("connection not reusable")?;
    let resp = sender.send_request(req).await?;
    if resp.status() != StatusCode::OK {
        bail!("status {}", resp.status());
    }
    let mut body = resp.into_body();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            len += data.len() as u64;
        }
    }
    Ok(len)
}
