//! The sockets a proxy serves: the proxy port and transparent listeners it binds from its
//! configuration, or takes bound elsewhere (inside a jail's network namespace), and the DNS
//! sockets answered for redirected agents.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use super::{Handles, StartError};
use crate::config::Config;
use crate::ingress::dns::Responder;
use crate::policy::AgentId;

/// Sockets bound elsewhere (inside a jail's network namespace) for the proxy to serve.
#[derive(Default)]
pub struct Listeners {
    /// Serves the proxy protocol instead of binding `config.listen`.
    pub proxy: Option<std::net::TcpListener>,
    /// Transparent listeners, beside those bound from `config.transparent_listen`.
    pub transparent: Vec<std::net::TcpListener>,
    /// DNS sockets answered for the transparent agent, when redirected queries arrive there.
    pub dns: Option<DnsSockets>,
}

/// UDP sockets whose queries keyward answers ([`crate::ingress::dns`]).
pub struct DnsSockets {
    pub sockets: Vec<std::net::UdpSocket>,
    /// What every name a rule could admit resolves to.
    pub answer: std::net::Ipv4Addr,
}

/// The proxy listener (`listeners.proxy`, or `config.listen` bound) and the transparent ones
/// (`config.transparent_listen` bound, then `listeners.transparent`).
pub(super) async fn bind(
    config: &Config,
    listeners: Listeners,
) -> Result<(TcpListener, Vec<TcpListener>), StartError> {
    let proxy = match listeners.proxy {
        Some(socket) => adopt(socket)?,
        None => bind_addr(config.listen).await?,
    };
    let mut transparent = Vec::new();
    for addr in &config.transparent_listen {
        transparent.push(bind_addr(*addr).await?);
    }
    for socket in listeners.transparent {
        transparent.push(adopt(socket)?);
    }
    Ok((proxy, transparent))
}

/// Binds `addr`.
async fn bind_addr(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// A listening socket bound elsewhere, made ready for the runtime.
fn adopt(socket: std::net::TcpListener) -> Result<TcpListener, StartError> {
    socket.set_nonblocking(true).map_err(StartError::Listener)?;
    TcpListener::from_std(socket).map_err(StartError::Listener)
}

/// The DNS sockets made ready for the runtime, with the responder that answers them for
/// `agent`.
pub(super) fn serve_dns(
    dns: DnsSockets,
    handles: &Handles,
    agent: Option<AgentId>,
    learn: bool,
) -> Result<(Vec<tokio::net::UdpSocket>, Arc<Responder>), StartError> {
    let responder = Responder::new(
        handles.rules.clone(),
        handles.recorder.clone(),
        agent,
        dns.answer,
    )
    .learning(learn);
    let sockets = dns
        .sockets
        .into_iter()
        .map(|socket| {
            socket.set_nonblocking(true)?;
            tokio::net::UdpSocket::from_std(socket)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Listener)?;
    Ok((sockets, Arc::new(responder)))
}
