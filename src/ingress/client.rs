//! One client connection on the proxy port: the raw-head scan beside hyper, idle tracking,
//! and the proxy protocol served until the connection ends, idles out, every agent is paused
//! or shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Ingress;
use super::head_scan::{Findings, HeadScan};
use super::{malformed, proxy_protocol};
use crate::pipeline::exchange::Scheme;
use crate::pipeline::record::Place;
use crate::server::accept::Slot;
use crate::server::activity::{Activity, ActivityIo};
use crate::server::connection;

/// Serves one client connection's proxy requests.
pub async fn serve(ingress: Arc<Ingress>, stream: TcpStream, client: SocketAddr, slot: Slot) {
    let activity = Activity::new();
    let findings = Arc::new(Findings::default());
    let io = TokioIo::new(HeadScan::new(
        ActivityIo::new(stream, activity.clone()),
        ingress.head_limit(),
        true,
        findings.clone(),
    ));
    let service = {
        let ingress = ingress.clone();
        let activity = activity.clone();
        let findings = findings.clone();
        service_fn(move |mut req| {
            findings.tag(&mut req);
            let conn = proxy_protocol::Client {
                addr: client,
                activity: activity.clone(),
                slot: slot.clone(),
            };
            proxy_protocol::handle(ingress.clone(), conn, req)
        })
    };
    let conn = ingress.outer.serve_connection(io, service).with_upgrades();
    let lifecycle = &ingress.lifecycle;
    // Agents authenticate per request on the proxy port: only pausing every agent ends
    // the connection itself (a tunnel it became watches its own agent).
    let pause = ingress.pauses.watch(None);
    let watch = connection::Watch {
        shutdown: lifecycle.shutdown(),
        stop_now: lifecycle.stop_now(),
        activity: &activity,
        idle: ingress.limits.idle_timeout,
        pause: pause.ended(),
    };
    let ended = connection::drive(conn, watch, "client").await;
    let place = Place {
        client,
        target: None,
        scheme: Scheme::Http,
        agent: None,
    };
    malformed::record_end(&ingress.recorder, place, &findings, ended);
}
