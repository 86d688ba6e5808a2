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

use super::Ingress;
use super::head_scan::{Findings, HeadScan};
use super::malformed::{self, Malformed};
use super::rewind::Rewind;
use crate::pipeline::exchange::{ConnInfo, RequestId, Scheme};
use crate::pipeline::record::Place;
use crate::pipeline::refusal::Misdirected;
use crate::policy::AgentId;
use crate::server::activity::Activity;
use crate::server::connection;
use crate::target::{Host, Target};

/// First byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves a CONNECT tunnel after the 200 went out.
pub async fn serve_tunnel(
    ingress: Arc<Ingress>,
    client: std::net::SocketAddr,
    target: Target,
    agent: Option<AgentId>,
    upgraded: Upgraded,
    activity: Arc<Activity>,
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
            refuse_tunnel(&ingress, place, why.to_owned());
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
                &ingress,
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
                "tunnel closed: the TLS SNI is not a valid host name".into(),
            );
            return;
        }
    };
    let minted_before = ingress.certs.mints();
    let config = match ingress.certs.get(&cert_host).await {
        Ok(config) => {
            ingress
                .metrics
                .handshake(ingress.certs.mints() > minted_before);
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
    let ended = connection::drive(
        served,
        lifecycle.shutdown(),
        lifecycle.stop_now(),
        &activity,
        limits.idle_timeout,
        "tunnel",
    )
    .await;
    malformed::record_end(&ingress.recorder, place, &findings, ended);
}

/// Records a tunnel closed before its TLS handshake completed.
fn refuse_tunnel(ingress: &Ingress, place: Place<'_>, reason: String) {
    let what = Malformed {
        reason,
        status: None,
    };
    malformed::record(&ingress.recorder, place, "CONNECT", what, &RequestId::new());
}
