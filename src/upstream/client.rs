//! The pooled upstream client: HTTP/1.1 and HTTP/2 (whatever the server negotiates by ALPN),
//! certificates verified against the upstream roots, bounded by connect and response timeouts,
//! one pool per private allowance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response, Version};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::capture_connection;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::{ClientConfig, RootCertStore};

use super::allowance::PrivateAllowance;
use super::connector::GuardedConnector;
use super::error::{ProtocolFailure, Timeout, UpstreamFailure};
use crate::body::ProxyBody;
use crate::config::{Limits, ResolveOverride};

/// The body of an upstream response, streamed as it arrives.
pub type UpstreamBody = Incoming;

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most idle connections kept per upstream host.
const POOL_MAX_IDLE_PER_HOST: usize = 32;

/// Most distinct private allowances with a pool of their own; past it the pools start over
/// (connections in use finish; idle ones close).
const MAX_PRIVATE_POOLS: usize = 64;

/// The pooled client type: verified TLS over guarded TCP.
type PooledClient = Client<HttpsConnector<GuardedConnector>, ProxyBody>;

/// Sends requests upstream over pooled, verified connections.
///
/// A pool's connections were all dialled under one private allowance: requests whose rule
/// opens no private range use `client`, the others the pool of their exact allowance. A
/// connection to a private address is therefore reused only by requests whose rule opens
/// that address, whatever the pool's key (scheme and authority) says.
#[derive(Clone)]
pub struct Upstream {
    client: PooledClient,
    connector: GuardedConnector,
    /// Pools for requests whose rule has `allow_private:`, by allowance.
    private: Arc<Mutex<HashMap<PrivateAllowance, PooledClient>>>,
    /// TLS settings every pool shares.
    tls: Arc<ClientConfig>,
    /// Largest HTTP/2 header list accepted from upstreams.
    max_header_list: u32,
    response_timeout: Duration,
}

impl Upstream {
    /// Builds the client; `roots` are the trusted upstream roots.
    pub fn new(
        roots: RootCertStore,
        overrides: &[ResolveOverride],
        limits: &Limits,
    ) -> Result<Self, rustls::Error> {
        let tls = ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(Arc::new(roots))
            .with_no_client_auth();
        let connector = GuardedConnector::new(overrides, limits.upstream_connect_timeout);
        let max_header_list = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
        Ok(Self {
            client: pooled(&tls, connector.clone(), max_header_list),
            connector,
            private: Arc::default(),
            tls: Arc::new(tls),
            max_header_list,
            response_timeout: limits.upstream_response_timeout,
        })
    }

    /// The same client with pools of its own (the guard, its own addresses and the TLS
    /// settings shared): one per serving thread, so a request and its pooled connection are
    /// driven on the same thread.
    pub fn with_own_pools(&self) -> Self {
        Self {
            client: pooled(&self.tls, self.connector.clone(), self.max_header_list),
            connector: self.connector.clone(),
            private: Arc::default(),
            tls: self.tls.clone(),
            max_header_list: self.max_header_list,
            response_timeout: self.response_timeout,
        }
    }

    /// The connector, to check a destination before committing to an exchange.
    pub fn connector(&self) -> &GuardedConnector {
        &self.connector
    }

    /// The client whose pool holds only connections dialled under `allowance`.
    fn client_for(&self, allowance: &PrivateAllowance) -> PooledClient {
        if allowance.is_empty() {
            return self.client.clone();
        }
        let mut pools = self.private.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = pools.get(allowance) {
            return client.clone();
        }
        if pools.len() >= MAX_PRIVATE_POOLS {
            pools.clear();
        }
        let client = pooled(
            &self.tls,
            self.connector.allowing(allowance.clone()),
            self.max_header_list,
        );
        pools.insert(allowance.clone(), client.clone());
        client
    }

    /// Sends `req` (absolute URI) and waits for the response head; private destinations
    /// stay refused.
    pub async fn send(
        &self,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        self.send_allowing(req, &PrivateAllowance::default()).await
    }

    /// Sends `req` (absolute URI) and waits for the response head, dialling the private
    /// addresses `allowance` opens (the deciding rule's `allow_private:`).
    pub async fn send_allowing(
        &self,
        mut req: Request<ProxyBody>,
        allowance: &PrivateAllowance,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        // The pool speaks HTTP/2 when the server negotiated it; the agent's version is its own.
        *req.version_mut() = Version::HTTP_11;
        let connection = capture_connection(&mut req);
        let client = self.client_for(allowance);
        match tokio::time::timeout(self.response_timeout, client.request(req)).await {
            Ok(Ok(resp)) => match doubtful_framing(&resp) {
                None => Ok(resp),
                Some(why) => {
                    // Where this response ends is a guess, so the next one on the same
                    // connection might start inside it: never reuse that connection.
                    if let Some(connected) = connection.connection_metadata().as_ref() {
                        connected.poison();
                    }
                    Err(UpstreamFailure::Protocol(
                        ProtocolFailure::AmbiguousFraming(why),
                    ))
                }
            },
            Ok(Err(err)) => Err(UpstreamFailure::classify(&err)),
            Err(_) => Err(UpstreamFailure::Timeout(Timeout::ResponseHead(
                self.response_timeout,
            ))),
        }
    }
}

/// A pooled client over `connector`.
fn pooled(tls: &ClientConfig, connector: GuardedConnector, max_header_list: u32) -> PooledClient {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http2_max_header_list_size(max_header_list)
        .build(https)
}

/// Why an HTTP/1 response's length is not certain: a `Transfer-Encoding` beside a
/// `Content-Length` (RFC 9112 §6.1: a sign of smuggling), or any transfer coding other than
/// exactly `chunked`. HTTP/2 frames its messages itself.
fn doubtful_framing<B>(resp: &Response<B>) -> Option<&'static str> {
    if resp.version() == Version::HTTP_2 {
        return None;
    }
    let headers = resp.headers();
    let mut codings = headers.get_all(http::header::TRANSFER_ENCODING).iter();
    match (codings.next(), codings.next()) {
        (None, _) => None,
        (Some(_), _) if headers.contains_key(http::header::CONTENT_LENGTH) => {
            Some("both Transfer-Encoding and Content-Length")
        }
        (Some(only), None) if only.as_bytes() == b"chunked" => None,
        (Some(_), _) => Some("a Transfer-Encoding other than chunked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(headers: &[(&str, &str)], version: Version) -> Response<()> {
        let mut r = Response::builder().version(version);
        for (n, v) in headers {
            r = r.header(*n, *v);
        }
        r.body(()).unwrap()
    }

    #[test]
    fn framing_is_doubtful_only_when_an_http1_length_is_a_guess() {
        let h1 = Version::HTTP_11;
        assert_eq!(
            doubtful_framing(&resp(&[("content-length", "2")], h1)),
            None
        );
        assert_eq!(
            doubtful_framing(&resp(&[("transfer-encoding", "chunked")], h1)),
            None
        );
        assert!(
            doubtful_framing(&resp(
                &[("transfer-encoding", "chunked"), ("content-length", "2")],
                h1
            ))
            .is_some()
        );
        for te in ["gzip, chunked", "chunked, chunked", "CHUNKED", "identity"] {
            assert!(
                doubtful_framing(&resp(&[("transfer-encoding", te)], h1)).is_some(),
                "{te}"
            );
        }
        assert!(
            doubtful_framing(&resp(
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked")
                ],
                h1
            ))
            .is_some()
        );
        assert_eq!(doubtful_framing(&resp(&[], Version::HTTP_2)), None);
    }
}
