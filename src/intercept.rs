//! TLS termination of a CONNECT tunnel: checks that the first bytes are a TLS ClientHello,
//! pins SNI to the CONNECT host, serves a leaf for it (ALPN h2 / http/1.1), then serves the
//! decrypted requests through the pipeline.

use std::sync::Arc;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;
use tokio_rustls::LazyConfigAcceptor;

use crate::activity::Activity;
use crate::conn_event::{self, Malformed, Place};
use crate::exchange::{ConnInfo, Scheme};
use crate::head_scan::{Findings, HeadScan};
use crate::pipeline;
use crate::policy::AgentId;
use crate::proxy::Shared;
use crate::rewind::Rewind;
use crate::target::{Host, Target};

/// First byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves a CONNECT tunnel after the 200 went out.
pub async fn serve_tunnel(
    shared: Arc<Shared>,
    client: std::net::SocketAddr,
    target: Target,
    agent: Option<AgentId>,
    upgraded: Upgraded,
    activity: Arc<Activity>,
) {
    let limits = &shared.config().limits;
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
            refuse_tunnel(&shared, place, why.to_owned());
            return;
        }
        Ok(_) => return,
        Err(_) => {
            tracing::debug!(%client, %target, "tunnel closed: no ClientHello in time");
            return;
        }
    }
    let io = Rewind::new(Bytes::copy_from_slice(&first), io);
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let start = match tokio::time::timeout(limits.header_read_timeout, acceptor).await {
        Ok(Ok(start)) => start,
        Ok(Err(err)) => {
            tracing::warn!(%client, %target, error = %err, "tunnel closed: invalid TLS ClientHello");
            refuse_tunnel(
                &shared,
                place,
                format!("tunnel closed: invalid TLS ClientHello ({err})"),
            );
            return;
        }
        Err(_) => return,
    };
    let sni = start.client_hello().server_name().map(str::to_owned);
    let (cert_host, sni_mismatch) = match sni.as_deref().map(Host::parse) {
        None => (target.host.clone(), None),
        Some(Ok(host)) if host == target.host => (host, None),
        Some(Ok(host)) => {
            let why = format!("TLS SNI {host} does not match the CONNECT target {target}");
            tracing::warn!(%client, %target, sni = %host, "SNI does not match CONNECT host; every request will be refused");
            (host, Some(why))
        }
        Some(Err(_)) => {
            tracing::warn!(%client, %target, "tunnel closed: invalid SNI");
            refuse_tunnel(
                &shared,
                place,
                "tunnel closed: the TLS SNI is not a valid host name".into(),
            );
            return;
        }
    };
    let minted_before = shared.certs().mints();
    let config = match shared.certs().get(&cert_host).await {
        Ok(config) => {
            shared
                .metrics()
                .handshake(shared.certs().mints() > minted_before);
            config
        }
        Err(err) => {
            tracing::error!(%client, %target, error = %err, "tunnel closed: cannot mint a certificate");
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
    let conn = Arc::new(ConnInfo {
        client,
        target: target.clone(),
        scheme: Scheme::Https,
        sni_mismatch,
        activity: activity.clone(),
        agent: agent.clone(),
    });
    let findings = Arc::new(Findings::default());
    let service = {
        let shared = shared.clone();
        let findings = findings.clone();
        service_fn(move |mut req| {
            findings.tag(&mut req);
            pipeline::handle(shared.clone(), conn.clone(), req)
        })
    };
    let builder = shared.tunnel_builder(h2);
    let limit = limits.max_header_bytes.max(8192);
    let io = HeadScan::new(tls, limit, !h2, findings.clone());
    let served = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let ended = crate::connection::drive(
        served,
        shared.shutdown(),
        shared.stop_now(),
        &activity,
        limits.idle_timeout,
        "tunnel",
    );
    let ended = ended.await;
    if let Some(too_long) = findings.take_too_long() {
        let what = Malformed {
            reason: too_long.reason,
            status: Some(414),
        };
        conn_event::record_as(&shared, place, "-", what, too_long.id);
    } else if let Some(malformed) = ended {
        conn_event::record(&shared, place, "-", malformed);
    }
}

/// Records a tunnel closed before its TLS handshake completed.
fn refuse_tunnel(shared: &Shared, place: Place<'_>, reason: String) {
    let what = Malformed {
        reason,
        status: None,
    };
    conn_event::record(shared, place, "CONNECT", what);
}
