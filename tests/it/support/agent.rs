//! A Rust agent that talks through keyward the way real clients do: CONNECT, TLS with
//! keyward's CA (SNI and ALPN chosen by the test), then HTTP/1.1 or HTTP/2 inside.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    H1,
    H2,
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The `reason` of the JSON body (what a refusal or an upstream failure says).
    pub fn reason(&self) -> String {
        let json = self.json();
        json["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("no reason: {json}"))
            .to_owned()
    }
}

#[derive(Clone)]
pub struct Agent {
    pub proxy: SocketAddr,
    roots: Arc<RootCertStore>,
    /// `Proxy-Authorization` value sent with CONNECT and plain requests.
    proxy_auth: Option<String>,
}

impl Agent {
    pub fn new(proxy: SocketAddr, ca_path: &Path) -> Self {
        let pem = std::fs::read(ca_path).unwrap();
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        Self {
            proxy,
            roots: Arc::new(roots),
            proxy_auth: None,
        }
    }

    /// The status of a GET of `url` over `proto` (see [`Agent::get`]).
    pub async fn get_status(&self, proto: Proto, url: &str) -> StatusCode {
        self.get(proto, url).await.status
    }

    /// The same agent authenticating as `name` with `token`.
    pub fn with_credentials(mut self, name: &str, token: &str) -> Self {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{token}"));
        self.proxy_auth = Some(format!("Basic {encoded}"));
        self
    }

    /// Sends `CONNECT authority`; the TCP stream on 200, or the status and body otherwise.
    pub async fn connect(&self, authority: &str) -> Result<TcpStream, Reply> {
        let mut tcp = TcpStream::connect(self.proxy).await.unwrap();
        let auth = self
            .proxy_auth
            .as_ref()
            .map(|a| format!("Proxy-Authorization: {a}\r\n"))
            .unwrap_or_default();
        tcp.write_all(
            format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let (status, headers, body) = read_response_head(&mut tcp).await;
        if status == StatusCode::OK {
            Ok(tcp)
        } else {
            Err(Reply {
                status,
                headers,
                body,
            })
        }
    }

    /// TLS over an open tunnel.
    pub async fn tls(
        &self,
        tcp: TcpStream,
        sni: &str,
        alpn: &[&[u8]],
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let mut config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(self.roots.clone())
                .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name =
            ServerName::try_from(sni.trim_start_matches('[').trim_end_matches(']').to_owned())
                .unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }

    /// Sends `req` (absolute `https://` URI) through a new tunnel with `proto`.
    pub async fn send(&self, proto: Proto, req: Request<Full<Bytes>>) -> Reply {
        let authority = authority_with_port(req.uri());
        let host = req.uri().host().unwrap().to_owned();
        let tcp = self
            .connect(&authority)
            .await
            .unwrap_or_else(|r| panic!("CONNECT refused: {r:?}"));
        let alpn: &[&[u8]] = match proto {
            Proto::H1 => &[b"http/1.1"],
            Proto::H2 => &[b"h2"],
        };
        let tls = self.tls(tcp, &host, alpn).await.unwrap();
        send_over(tls, proto, req).await
    }

    /// GET `url` through a new tunnel.
    pub async fn get(&self, proto: Proto, url: &str) -> Reply {
        self.send(
            proto,
            Request::get(url).body(Full::new(Bytes::new())).unwrap(),
        )
        .await
    }

    /// Sends an absolute-form plain-HTTP request to the proxy.
    pub async fn plain(&self, mut req: Request<Full<Bytes>>) -> Reply {
        if let Some(auth) = &self.proxy_auth {
            req.headers_mut()
                .insert("proxy-authorization", auth.parse().unwrap());
        }
        let tcp = TcpStream::connect(self.proxy).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        collect(sender.send_request(req).await.unwrap()).await
    }
}

/// Sends one request over an established TLS stream (URI rewritten for the protocol).
pub async fn send_over(
    tls: TlsStream<TcpStream>,
    proto: Proto,
    mut req: Request<Full<Bytes>>,
) -> Reply {
    match proto {
        Proto::H1 => {
            let authority = req.uri().authority().unwrap().as_str().to_owned();
            if !req.headers().contains_key("host") {
                req.headers_mut().insert("host", authority.parse().unwrap());
            }
            let path = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_owned();
            *req.uri_mut() = path.parse().unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            collect(sender.send_request(req).await.unwrap()).await
        }
        Proto::H2 => {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            *req.version_mut() = http::Version::HTTP_2;
            collect(sender.send_request(req).await.unwrap()).await
        }
    }
}

pub async fn collect(resp: http::Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `host:port` of a URI, with the scheme's default port filled in.
pub fn authority_with_port(uri: &Uri) -> String {
    let host = uri.host().unwrap();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("http") {
            80
        } else {
            443
        });
    format!("{host}:{port}")
}

/// Reads a response head (and a Content-Length body) from a raw stream.
pub async fn read_response_head(tcp: &mut TcpStream) -> (StatusCode, HeaderMap, Bytes) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert!(buf.len() < 64 * 1024, "response head too large");
        let n = tcp.read(&mut byte).await.unwrap();
        assert!(
            n == 1,
            "connection closed before the response head ended: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    resp.parse(&buf).unwrap();
    let status = StatusCode::from_u16(resp.code.unwrap()).unwrap();
    let mut map = HeaderMap::new();
    for h in resp.headers.iter() {
        map.append(
            http::HeaderName::from_bytes(h.name.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(h.value).unwrap(),
        );
    }
    let len: usize = map
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).await.unwrap();
    (status, map, Bytes::from(body))
}
