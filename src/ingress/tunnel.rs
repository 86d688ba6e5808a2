//! TLS termination of a CONNECT tunnel: checks that the first bytes are a TLS ClientHello,
//! pins SNI to the CONNECT host, serves a leaf for it (ALPN h2 / http/1.1), then serves the
//! decrypted requests through the pipeline. What follows the ClientHello is shared with
//! redirected TLS connections ([`transparent`](super::transparent)).

use std::sync::Arc;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio_rustls::{LazyConfigAcceptor, StartHandshake};

use super::Ingress;
use super::head_scan::{Findings, HeadScan};
use super::malformed::{self, Malformed};
use super::rewind::Rewind;
use crate::control::pause::PauseWatch;
use crate::pipeline::exchange::{ConnInfo, RequestId, Scheme};
use crate::pipeline::record::Place;
use crate::pipeline::refusal::Misdirected;
use crate::policy::AgentId;
use crate::server::activity::Activity;
use crate::server::connection;
use crate::target::{Host, Target};

/// First byte of a TLS record carrying a handshake message.
pub(super) const TLS_HANDSHAKE: u8 = 0x16;

/// Serves a CONNECT tunnel after the 200 went out; `pause` was taken when the CONNECT was
/// admitted, so a pause made meanwhile closes it too.
pub async fn serve_tunnel(
    ingress: Arc<Ingress>,
    client: std::net::SocketAddr,
    target: Target,
    agent: Option<AgentId>,
    upgraded: Upgraded,
    activity: Arc<Activity>,
    pause: PauseWatch,
) {
    let limits = &ingress.limits;
    let mut io = TokioIo::new(upgraded);
    let place = Place {
        client,
        target: Some(&target),
        scheme: Scheme::Https,
        agent: agent.as_ref(),
    };
    let mut first = [0u8; 1];
    let read = tokio::time::timeout(limits.header_read_timeout, io.read(&mut first)).await;
    match read {
        Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {}
        Ok(Ok(1)) => {
            tracing::warn!(%client, %target, first_byte = first[0], "tunnel closed: first bytes are not a TLS ClientHello (no blind tunnels)");
            let why = "tunnel closed: its first bytes are not a TLS ClientHello (no blind tunnels)";
            refuse_tunnel(&ingress, place, "CONNECT", why.to_owned());
            return;
        }
        Ok(_) => return,
        Err(_) => {
            tracing::debug!(%client, %target, "tunnel closed: no ClientHello in time");
            return;
        }
    }
    let io = Rewind::new(Bytes::copy_from_slice(&first), io);
    let Some(start) = client_hello(&ingress, io, place, "CONNECT", "tunnel").await else {
        return;
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    let (cert_host, sni_mismatch) = match sni.as_deref().map(Host::parse) {
        None => (target.host.clone(), None),
        Some(Ok(host)) if host == target.host => (host, None),
        Some(Ok(host)) => {
            tracing::warn!(%client, %target, sni = %host, "SNI does not match CONNECT host; every request will be refused");
            let why = Misdirected::Sni {
                sni: host.clone(),
                target: target.clone(),
            };
            (host, Some(why))
        }
        Some(Err(_)) => {
            tracing::warn!(%client, %target, "tunnel closed: invalid SNI");
            refuse_tunnel(
                &ingress,
                place,
                "CONNECT",
                "tunnel closed: the TLS SNI is not a valid host name".into(),
            );
            return;
        }
    };
    let conn = ConnInfo {
        client,
        target: target.clone(),
        scheme: Scheme::Https,
        sni_mismatch,
        activity,
        agent: agent.clone(),
        pause,
    };
    serve_decrypted(ingress, start, &cert_host, conn, "tunnel").await;
}

/// Reads the ClientHello from `io` (within the header read timeout); an invalid one is
/// recorded as a refusal under `method` (the reason opens with `what`), a silent or
/// vanished peer just closes.
pub(super) async fn client_hello<IO>(
    ingress: &Ingress,
    io: IO,
    place: Place<'_>,
    method: &str,
    what: &str,
) -> Option<StartHandshake<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let client = place.client;
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    match tokio::time::timeout(ingress.limits.header_read_timeout, acceptor).await {
        Ok(Ok(start)) => Some(start),
        Ok(Err(err)) => {
            tracing::warn!(%client, error = %err, "{what} closed: invalid TLS ClientHello");
            let why = format!("{what} closed: invalid TLS ClientHello ({err})");
            refuse_tunnel(ingress, place, method, why);
            None
        }
        Err(_) => None,
    }
}

/// What follows a ClientHello, for a CONNECT tunnel and a redirected TLS connection alike:
/// a leaf for `cert_host` (ALPN h2 / http/1.1), the handshake, then the decrypted requests
/// served through the pipeline on `conn` until the connection ends, idles out or shutdown;
/// a malformed head or protocol violation on the way is recorded. `what` names the
/// connection in log lines.
pub(super) async fn serve_decrypted<IO>(
    ingress: Arc<Ingress>,
    start: StartHandshake<IO>,
    cert_host: &Host,
    conn: ConnInfo,
    what: &'static str,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = &ingress.limits;
    let client = conn.client;
    let target = conn.target.clone();
    let minted_before = ingress.certs.mints();
    let config = match ingress.certs.get(cert_host).await {
        Ok(config) => {
            ingress
                .metrics
                .handshake(ingress.certs.mints() > minted_before);
            config
        }
        Err(err) => {
            tracing::error!(%client, %target, error = %err, "connection closed: cannot mint a certificate");
            return;
        }
    };
    let tls = match tokio::time::timeout(limits.header_read_timeout, start.into_stream(config))
        .await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => {
            tracing::debug!(%client, %target, error = %err, "TLS handshake with the agent failed");
            return;
        }
        Err(_) => return,
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let activity = conn.activity.clone();
    let agent = conn.agent.clone();
    let pause = conn.pause.clone();
    let conn = Arc::new(conn);
    let findings = Arc::new(Findings::default());
    let service = {
        let pipeline = ingress.pipeline.clone();
        let findings = findings.clone();
        service_fn(move |mut req| {
            findings.tag(&mut req);
            pipeline.clone().handle(conn.clone(), req)
        })
    };
    let builder = ingress.tunnel_builder(h2);
    let io = HeadScan::new(tls, ingress.head_limit(), !h2, findings.clone());
    let served = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let lifecycle = &ingress.lifecycle;
    let watch = connection::Watch {
        shutdown: lifecycle.shutdown(),
        stop_now: lifecycle.stop_now(),
        activity: &activity,
        idle: limits.idle_timeout,
        pause: pause.ended(),
    };
    let ended = connection::drive(served, watch, what).await;
    let place = Place {
        client,
        target: Some(&target),
        scheme: Scheme::Https,
        agent: agent.as_ref(),
    };
    malformed::record_end(&ingress.recorder, place, &findings, ended);
}

/// Records a connection closed before its TLS handshake completed (`method`: `CONNECT` for
/// a tunnel).
pub(super) fn refuse_tunnel(ingress: &Ingress, place: Place<'_>, method: &str, reason: String) {
    let what = Malformed {
        reason,
        status: None,
    };
    malformed::record(&ingress.recorder, place, method, what, &RequestId::new());
}
