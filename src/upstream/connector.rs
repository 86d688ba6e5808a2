//! TCP dialling for the upstream client: resolve each host once, refuse it when any address
//! fails the destination guard and the request's private allowance does not open it, and
//! dial exactly the checked addresses; `--resolve` pins win.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::allowance::PrivateAllowance;
use super::error::UpstreamError;
use super::guard;
use crate::config::ResolveOverride;
use crate::target::{Host, Target};

/// How many resolved addresses are tried before giving up.
const MAX_ADDRESSES_TRIED: usize = 4;

/// Resolves, guards and dials upstream TCP connections.
#[derive(Clone)]
pub struct GuardedConnector {
    inner: Arc<Inner>,
    /// The guarded addresses this connector may dial: its pool serves only requests whose
    /// rule opens exactly these ranges, so a connection never outlives its allowance.
    allowance: PrivateAllowance,
}

struct Inner {
    /// Operator pins: HOST:PORT -> address, bypassing DNS and the guard for that target only.
    overrides: HashMap<Target, SocketAddr>,
    /// Time allowed for the DNS lookup and for each TCP connect.
    connect_timeout: Duration,
    /// keyward's own listen addresses (proxy, admin): never dialled, so an agent cannot
    /// reach the admin API or loop requests through keyward itself.
    own: std::sync::RwLock<Vec<SocketAddr>>,
}

impl GuardedConnector {
    pub fn new(overrides: &[ResolveOverride], connect_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                overrides: overrides
                    .iter()
                    .map(|o| (o.target.clone(), o.addr))
                    .collect(),
                connect_timeout,
                own: std::sync::RwLock::new(Vec::new()),
            }),
            allowance: PrivateAllowance::default(),
        }
    }

    /// The same connector (pins, timeouts, own addresses) dialling what `allowance` opens.
    pub fn allowing(&self, allowance: PrivateAllowance) -> Self {
        Self {
            inner: self.inner.clone(),
            allowance,
        }
    }

    /// Records an address keyward listens on (called once its listeners are bound).
    pub fn add_own_address(&self, addr: SocketAddr) {
        if let Ok(mut own) = self.inner.own.write() {
            own.push(addr);
        }
    }

    /// Whether `addr` is one of keyward's own listeners (an unspecified listen address
    /// covers every local address on its port).
    fn is_own(&self, addr: &SocketAddr) -> bool {
        let Ok(own) = self.inner.own.read() else {
            return true;
        };
        own.iter().any(|o| {
            o.port() == addr.port()
                && (o.ip() == addr.ip()
                    || o.ip().is_unspecified()
                    || (o.ip().is_loopback() && addr.ip().is_loopback()))
        })
    }

    /// Refuses keyward's own addresses, even when pinned.
    fn refuse_own(&self, target: &Target, addrs: &[SocketAddr]) -> Result<(), UpstreamError> {
        match addrs.iter().find(|a| self.is_own(a)) {
            Some(addr) => Err(UpstreamError::Refused {
                target: target.to_string(),
                addr: addr.ip(),
                reason: "keyward's own listen address",
            }),
            None => Ok(()),
        }
    }

    /// The addresses to dial for `target`, each checked (or pinned by the operator): a
    /// guarded address passes only when the allowance opens it.
    pub async fn addresses(&self, target: &Target) -> Result<Vec<SocketAddr>, UpstreamError> {
        if let Some(addr) = self.inner.overrides.get(target) {
            self.refuse_own(target, &[*addr])?;
            return Ok(vec![*addr]);
        }
        let addrs: Vec<SocketAddr> = match &target.host {
            Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
            Host::Name(name) => {
                let lookup = tokio::net::lookup_host((name.as_str(), target.port));
                tokio::time::timeout(self.inner.connect_timeout, lookup)
                    .await
                    .map_err(|_| UpstreamError::ResolveTimeout { host: name.clone() })?
                    .map_err(|source| UpstreamError::Resolve {
                        host: name.clone(),
                        reason: source.to_string(),
                    })?
                    .collect()
            }
        };
        if addrs.is_empty() {
            return Err(UpstreamError::Resolve {
                host: target.host.to_string(),
                reason: "no addresses".into(),
            });
        }
        // One refused address refuses the host: a name that mixes public and internal
        // addresses is a rebinding or misconfiguration signal, not something to route around.
        for addr in &addrs {
            if let Some(reason) = guard::refusal_reason(addr.ip()) {
                if !self.allowance.covers(addr.ip()) {
                    return Err(UpstreamError::Refused {
                        target: target.to_string(),
                        addr: addr.ip(),
                        reason,
                    });
                }
                tracing::debug!(%target, addr = %addr.ip(), reason, "private destination opened by the rule's allow_private");
            }
        }
        self.refuse_own(target, &addrs)?;
        Ok(addrs)
    }

    async fn connect(self, uri: Uri) -> Result<TokioIo<TcpStream>, UpstreamError> {
        let target = target_of(&uri)?;
        let addrs = self.addresses(&target).await?;
        let mut last = None;
        for addr in addrs.into_iter().take(MAX_ADDRESSES_TRIED) {
            match tokio::time::timeout(self.inner.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(TokioIo::new(stream));
                }
                Ok(Err(source)) => {
                    last = Some(UpstreamError::Connect {
                        addr,
                        reason: source.to_string(),
                    })
                }
                Err(_) => last = Some(UpstreamError::ConnectTimeout { addr }),
            }
        }
        Err(last.unwrap_or(UpstreamError::Resolve {
            host: target.host.to_string(),
            reason: "no addresses".into(),
        }))
    }
}

/// The host and port a request URI names (default port from its scheme).
fn target_of(uri: &Uri) -> Result<Target, UpstreamError> {
    let default = match uri.scheme_str() {
        Some("http") => 80,
        _ => 443,
    };
    let authority = uri
        .authority()
        .ok_or_else(|| UpstreamError::InvalidUri(uri.to_string()))?;
    Target::parse_with_default(authority.as_str(), Some(default))
        .map_err(|_| UpstreamError::InvalidUri(uri.to_string()))
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = UpstreamError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> Target {
        Target::parse_authority(text).unwrap()
    }

    fn allowing(ranges: &[&str]) -> PrivateAllowance {
        let ranges: Vec<ipnet::IpNet> = ranges.iter().map(|r| r.parse().unwrap()).collect();
        PrivateAllowance::new(&ranges)
    }

    #[tokio::test]
    async fn a_private_address_is_dialled_only_under_an_allowance_that_covers_it() {
        let connector = GuardedConnector::new(&[], Duration::from_secs(1));
        let private = target("10.20.0.5:443");
        assert!(matches!(
            connector.addresses(&private).await,
            Err(UpstreamError::Refused { .. })
        ));
        let opened = connector.allowing(allowing(&["10.20.0.0/16"]));
        assert_eq!(
            opened.addresses(&private).await.unwrap(),
            vec!["10.20.0.5:443".parse::<SocketAddr>().unwrap()]
        );
        assert!(matches!(
            opened.addresses(&target("10.21.0.5:443")).await,
            Err(UpstreamError::Refused { .. })
        ));
        assert!(matches!(
            connector
                .allowing(allowing(&["0.0.0.0/0"]))
                .addresses(&target("169.254.169.254:80"))
                .await,
            Err(UpstreamError::Refused { .. })
        ));
    }

    #[tokio::test]
    async fn keywards_own_address_stays_refused_whatever_the_allowance() {
        let connector = GuardedConnector::new(&[], Duration::from_secs(1));
        connector.add_own_address("127.0.0.1:3128".parse().unwrap());
        let opened = connector.allowing(allowing(&["127.0.0.0/8"]));
        assert!(opened.addresses(&target("127.0.0.1:8080")).await.is_ok());
        assert!(matches!(
            opened.addresses(&target("127.0.0.1:3128")).await,
            Err(UpstreamError::Refused { .. })
        ));
    }
}
