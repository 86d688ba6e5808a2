//! A no-op HTTPS-intercepting proxy on hudsucker: every CONNECT is intercepted with an
//! rcgen CA, every request forwarded unchanged, no policy, no logging. keyward's loadgen
//! (`--baseline PATH`) runs the same phases through it to compare CPU cost per request.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, bail};
use clap::Parser;
use http::Uri;
use hudsucker::Proxy;
use hudsucker::certificate_authority::RcgenAuthority;
use hudsucker::rcgen::{Issuer, KeyPair};
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::crypto::ring;
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpListener;
use tower_service::Service;

/// Leaf certificates hudsucker keeps cached.
const LEAF_CACHE: u64 = 1_000;

#[derive(Parser)]
struct Args {
    /// CA certificate (PEM) used to sign the per-host leaf certificates.
    #[arg(long)]
    ca_cert: PathBuf,
    /// The CA's private key (PEM).
    #[arg(long)]
    ca_key: PathBuf,
    /// The CA (PEM) trusted for upstream connections (the only one trusted).
    #[arg(long)]
    upstream_ca: Option<PathBuf>,
    /// `HOST:PORT:ADDR`: connect HOST:PORT to ADDR (like curl's --resolve).
    #[arg(long)]
    resolve: Vec<String>,
    /// Offer only http/1.1 upstream (by default h2 is offered too, as keyward does).
    #[arg(long)]
    upstream_http1_only: bool,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// One `--resolve` entry.
#[derive(Clone)]
struct Resolve {
    host: String,
    port: u16,
    addr: SocketAddr,
}

fn parse_resolve(spec: &str) -> anyhow::Result<Resolve> {
    let (host, rest) = spec
        .split_once(':')
        .context("--resolve wants HOST:PORT:ADDR")?;
    let (port, addr) = rest
        .split_once(':')
        .context("--resolve wants HOST:PORT:ADDR")?;
    Ok(Resolve {
        host: host.to_ascii_lowercase(),
        port: port.parse().context("--resolve: bad port")?,
        addr: addr.parse().context("--resolve: bad address")?,
    })
}

/// The TCP connector under hyper-rustls: dials pinned HOST:PORTs at their fixed address and
/// everything else as usual. (A hyper-util DNS resolver alone is not enough: hudsucker's
/// upstream URIs carry an explicit `:443`, which overrides the resolved port.)
#[derive(Clone)]
struct PinnedConnector {
    inner: HttpConnector,
    pins: Arc<Vec<Resolve>>,
}

impl Service<Uri> for PinnedConnector {
    type Response = <HttpConnector as Service<Uri>>::Response;
    type Error = <HttpConnector as Service<Uri>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let port = dst.port_u16().unwrap_or(match dst.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let pinned = dst.host().and_then(|host| {
            self.pins
                .iter()
                .find(|p| p.port == port && p.host.eq_ignore_ascii_case(host))
        });
        let target = match pinned.map(|p| format!("http://{}", p.addr).parse::<Uri>()) {
            Some(Ok(uri)) => uri,
            _ => dst,
        };
        Box::pin(self.inner.call(target))
    }
}

fn pem_certs(path: &PathBuf) -> anyhow::Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut &pem[..]).collect::<Result<Vec<_>, _>>()?;
    if certs.is_empty() {
        bail!("no certificate in {}", path.display());
    }
    Ok(certs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pins = args
        .resolve
        .iter()
        .map(|s| parse_resolve(s))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let ca_cert = std::fs::read_to_string(&args.ca_cert).context("reading --ca-cert")?;
    let ca_key = std::fs::read_to_string(&args.ca_key).context("reading --ca-key")?;
    let issuer = Issuer::from_ca_cert_pem(&ca_cert, KeyPair::from_pem(&ca_key)?)?;
    let ca = RcgenAuthority::new(issuer, LEAF_CACHE, ring::default_provider());

    // Only --upstream-ca is trusted: the benchmark never leaves the machine.
    let mut roots = RootCertStore::empty();
    if let Some(path) = &args.upstream_ca {
        for cert in pem_certs(path)? {
            roots.add(cert)?;
        }
    }
    let tls = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let tcp = PinnedConnector {
        inner: http,
        pins: Arc::new(pins),
    };
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let https = if args.upstream_http1_only {
        builder.enable_http1().wrap_connector(tcp)
    } else {
        builder.enable_all_versions().wrap_connector(tcp)
    };

    let listener = TcpListener::bind(args.listen).await?;
    println!("listening on {}", listener.local_addr()?);

    let proxy = Proxy::builder()
        .with_listener(listener)
        .with_ca(ca)
        .with_http_connector(https)
        .build()?;
    proxy.start().await?;
    Ok(())
}
