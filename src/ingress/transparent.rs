//! One connection redirected to a transparent listener (`iptables`/`nft` REDIRECT in the
//! agent's network namespace): the original destination read from the socket, then TLS
//! served for the host its SNI names, or plain HTTP/1.1 for the host its `Host` header
//! names, each at the original destination's port and through the same pipeline as CONNECT
//! tunnels and proxy requests. The agent is the one the operator names for redirected
//! traffic; a connection made to the port directly, without a redirect, is refused.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::head_scan::{Findings, HeadScan};
use super::malformed::{self, Malformed};
use super::proxy_protocol::{self, ProxyTarget};
use super::{Ingress, tunnel};
use crate::body::ProxyBody;
use crate::pipeline::exchange::{ConnInfo, RequestId, Scheme};
use crate::pipeline::record::Place;
use crate::pipeline::refusal::{BadRequest, Refusal};
use crate::policy::AgentId;
use crate::server::accept::Slot;
use crate::server::activity::{Activity, ActivityIo};
use crate::server::connection;
use crate::target::{Host, Target};

/// Names these connections in log lines and refusal reasons.
const WHAT: &str = "transparent connection";

/// Serves one connection accepted on a transparent listener (its place under the
/// connection limit is held by the accept loop until this returns).
pub async fn serve(ingress: Arc<Ingress>, stream: TcpStream, client: SocketAddr, _slot: Slot) {
    let unknown = Place {
        client,
        target: None,
        scheme: Scheme::Http,
        agent: None,
    };
    let agent = match ingress
        .rules
        .current()
        .agents
        .transparent_agent(ingress.transparent_agent.as_deref())
    {
        Ok(agent) => agent,
        Err(err) => {
            tracing::warn!(%client, error = %err, "{WHAT} refused: no agent to attribute it to");
            refuse(&ingress, unknown, format!("{WHAT} refused: {err}"));
            return;
        }
    };
    let unknown = Place {
        agent: agent.as_ref(),
        ..unknown
    };
    let original = match original_destination(&stream) {
        Ok(original) => original,
        Err(err) => {
            tracing::warn!(%client, error = %err, "{WHAT} refused: no original destination");
            let why = format!(
                "{WHAT} refused: no original destination ({err}); the transparent port serves \
                 redirected connections only"
            );
            refuse(&ingress, unknown, why);
            return;
        }
    };
    let destination = Target {
        host: Host::Ip(original.ip()),
        port: original.port(),
    };
    let mut first = [0u8; 1];
    let peeked =
        tokio::time::timeout(ingress.limits.header_read_timeout, stream.peek(&mut first)).await;
    match peeked {
        Ok(Ok(1)) => {}
        Ok(_) => return,
        Err(_) => {
            tracing::debug!(%client, %destination, "{WHAT} closed: nothing sent in time");
            return;
        }
    }
    let activity = Activity::new();
    let io = ActivityIo::new(stream, activity.clone());
    let conn = Redirected {
        client,
        destination,
        agent,
        activity,
    };
    if first[0] == tunnel::TLS_HANDSHAKE {
        serve_tls(ingress, io, conn).await;
    } else {
        serve_plain(ingress, io, conn).await;
    }
}

/// What every request on one redirected connection shares.
struct Redirected {
    /// The agent's socket address.
    client: SocketAddr,
    /// Where the agent connected before the redirect (the port requests are served for).
    destination: Target,
    /// The agent the operator named for redirected traffic.
    agent: Option<AgentId>,
    /// Idle tracking for the connection.
    activity: Arc<Activity>,
}

/// A TLS connection: served for the host its SNI names at the original destination's port,
/// exactly as a CONNECT tunnel is after its ClientHello.
async fn serve_tls(ingress: Arc<Ingress>, io: ActivityIo<TcpStream>, conn: Redirected) {
    let Redirected {
        client,
        destination,
        agent,
        activity,
    } = conn;
    let place = Place {
        client,
        target: Some(&destination),
        scheme: Scheme::Https,
        agent: agent.as_ref(),
    };
    let Some(start) = tunnel::client_hello(&ingress, io, place, "-", WHAT).await else {
        return;
    };
    let host = match start.client_hello().server_name().map(Host::parse) {
        Some(Ok(host)) => host,
        Some(Err(_)) => {
            tracing::warn!(%client, %destination, "{WHAT} closed: invalid SNI");
            let why = format!("{WHAT} closed: the TLS SNI is not a valid host name");
            refuse(&ingress, place, why);
            return;
        }
        None => {
            tracing::warn!(%client, %destination, "{WHAT} closed: the ClientHello names no host (SNI)");
            let why = format!(
                "{WHAT} closed: the TLS ClientHello names no host (SNI); a redirected TLS \
                 connection is served for the host its SNI names"
            );
            refuse(&ingress, place, why);
            return;
        }
    };
    let conn = ConnInfo {
        client,
        target: Target {
            host: host.clone(),
            port: destination.port,
        },
        scheme: Scheme::Https,
        sni_mismatch: None,
        activity,
        pause: ingress.pauses.watch(agent.as_ref()),
        agent,
    };
    tunnel::serve_decrypted(ingress, start, &host, conn, "transparent").await;
}

/// Plain HTTP/1.1: each request served for the host its `Host` header names at the original
/// destination's port, as the proxy port serves its connections.
async fn serve_plain(ingress: Arc<Ingress>, io: ActivityIo<TcpStream>, conn: Redirected) {
    let conn = Arc::new(conn);
    let findings = Arc::new(Findings::default());
    let io = TokioIo::new(HeadScan::new(
        io,
        ingress.head_limit(),
        true,
        findings.clone(),
    ));
    let service = {
        let ingress = ingress.clone();
        let conn = conn.clone();
        let findings = findings.clone();
        service_fn(move |mut req| {
            findings.tag(&mut req);
            handle_plain(ingress.clone(), conn.clone(), req)
        })
    };
    let served = ingress.outer.serve_connection(io, service).with_upgrades();
    let lifecycle = &ingress.lifecycle;
    let pause = ingress.pauses.watch(conn.agent.as_ref());
    let watch = connection::Watch {
        shutdown: lifecycle.shutdown(),
        stop_now: lifecycle.stop_now(),
        activity: &conn.activity,
        idle: ingress.limits.idle_timeout,
        pause: pause.ended(),
    };
    let ended = connection::drive(served, watch, "transparent").await;
    let place = Place {
        client: conn.client,
        target: Some(&conn.destination),
        scheme: Scheme::Http,
        agent: conn.agent.as_ref(),
    };
    malformed::record_end(&ingress.recorder, place, &findings, ended);
}

/// Serves one plain request of a redirected connection: through the pipeline for the target
/// it names, or a 400 when it names none.
async fn handle_plain(
    ingress: Arc<Ingress>,
    conn: Arc<Redirected>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    match request_target(&req, conn.destination.port) {
        Ok(target) => {
            let info = Arc::new(ConnInfo {
                client: conn.client,
                target,
                scheme: Scheme::Http,
                sni_mismatch: None,
                activity: conn.activity.clone(),
                agent: conn.agent.clone(),
                pause: ingress.pauses.watch(conn.agent.as_ref()),
            });
            ingress.pipeline.clone().handle(info, req).await
        }
        Err(refusal) => {
            tracing::warn!(client = %conn.client, destination = %conn.destination, reason = %refusal.reason(), "redirected request refused");
            let agent = conn.agent.as_ref();
            let resp = proxy_protocol::refuse_unpinned(&ingress, conn.client, agent, &req, refusal);
            Ok(resp)
        }
    }
}

/// The target of a plain request on a redirected connection: the host its `Host` header
/// names at `port` (the original destination's); an absolute-form URI names its own, as on
/// the proxy port. CONNECT, no Host, or a Host that does not parse: 400.
pub fn request_target<B>(req: &Request<B>, port: u16) -> Result<Target, Refusal> {
    if req.method() == Method::CONNECT {
        return Err(BadRequest::ConnectRedirected.into());
    }
    if req.uri().scheme().is_some() {
        return match proxy_protocol::classify(req)? {
            ProxyTarget::Plain(target) => Ok(target),
            ProxyTarget::Connect(_) => Err(BadRequest::ConnectRedirected.into()),
        };
    }
    let raw = req
        .headers()
        .get(header::HOST)
        .ok_or(BadRequest::NoHost)?
        .to_str()
        .map_err(|_| BadRequest::HostNotText)?;
    let named =
        Target::parse_with_default(raw, Some(port)).map_err(|source| BadRequest::Authority {
            what: "Host header",
            raw: raw.to_owned(),
            source,
        })?;
    Ok(Target {
        host: named.host,
        port,
    })
}

/// Records a redirected connection closed before any request (method `-`).
fn refuse(ingress: &Ingress, place: Place<'_>, reason: String) {
    let what = Malformed {
        reason,
        status: None,
    };
    malformed::record(&ingress.recorder, place, "-", what, &RequestId::new());
}

/// Where the agent connected before the kernel redirected the connection here. A socket
/// nobody redirected has none, or (when the kernel tracks it) the listener's own address:
/// both are errors.
fn original_destination(stream: &TcpStream) -> io::Result<SocketAddr> {
    let local = unmapped(stream.local_addr()?);
    let original = unmapped(sockopt_original_dst(stream, local)?);
    if original == local {
        return Err(io::Error::other(
            "the connection was made to the transparent port itself, not redirected",
        ));
    }
    Ok(original)
}

/// `SO_ORIGINAL_DST` (IPv4) or `IP6T_SO_ORIGINAL_DST` (IPv6), by the family of `local`.
#[cfg(target_os = "linux")]
fn sockopt_original_dst(stream: &TcpStream, local: SocketAddr) -> io::Result<SocketAddr> {
    use rustix::net::sockopt;
    let original = match local {
        SocketAddr::V4(_) => sockopt::ip_original_dst(stream).map(SocketAddr::V4),
        SocketAddr::V6(_) => sockopt::ipv6_original_dst(stream).map(SocketAddr::V6),
    };
    original.map_err(io::Error::from)
}

/// Only Linux's netfilter records an original destination.
#[cfg(not(target_os = "linux"))]
fn sockopt_original_dst(_stream: &TcpStream, _local: SocketAddr) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "original destinations are read from Linux netfilter only",
    ))
}

/// An IPv4 peer on a dual-stack socket, as the IPv4 address it is.
fn unmapped(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, host: Option<&str>) -> Request<()> {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn the_host_header_names_the_host_and_the_original_destination_the_port() {
        let t = request_target(&req("GET", "/x", Some("Example.com")), 8080).unwrap();
        assert_eq!(t.to_string(), "example.com:8080");
        let t = request_target(&req("GET", "/x", Some("example.com:9")), 80).unwrap();
        assert_eq!(t.to_string(), "example.com:80");
        let t = request_target(&req("GET", "http://other.test/x", Some("x")), 8080).unwrap();
        assert_eq!(t.to_string(), "other.test:80");
    }

    #[test]
    fn connect_no_host_and_bad_hosts_are_bad_requests() {
        for bad in [
            req("CONNECT", "example.com:443", Some("example.com")),
            req("GET", "/", None),
            req("GET", "/", Some("exa mple.com")),
            req("GET", "/", Some("")),
            req("GET", "https://example.com/", None),
        ] {
            let refusal = request_target(&bad, 80).unwrap_err();
            assert!(matches!(refusal, Refusal::BadRequest(_)), "{refusal:?}");
        }
    }

    #[test]
    fn mapped_ipv4_addresses_compare_as_ipv4() {
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:80".parse().unwrap();
        assert_eq!(unmapped(mapped), "10.0.0.1:80".parse().unwrap());
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert_eq!(unmapped(v6), v6);
    }
}
