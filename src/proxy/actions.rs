//! The actions listener of a proxy (`actions_listen`): bound at start-up beside the proxy
//! port, serving the actions in force over MCP to clients whose calls come back through the
//! proxy port as requests like any other.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;

use super::StartError;
use crate::actions::catalog::ActionCatalog;
use crate::actions::handoff::Handoff;
use crate::actions::listener::ActionsServer;
use crate::actions::via_proxy::ProxyClient;
use crate::control::rules_in_force::RulesInForce;
use crate::pipeline::record::Recorder;
use crate::tool_server::ToolServer;
use crate::upstream::Upstream;

/// What serving actions takes from the proxy.
pub(super) struct Serving {
    /// The proxy port the calls are sent through.
    pub proxy: SocketAddr,
    /// keyward's CA, which the calls' client trusts for the proxy's leaf certificates.
    pub ca_der: CertificateDer<'static>,
    pub rules: Arc<RulesInForce>,
    /// What the proxy trusts a call's action name and input by.
    pub handoff: Arc<Handoff>,
    /// Where refused calls are recorded.
    pub recorder: Arc<Recorder>,
}

/// Binds the actions listener on `at`; the upstream refuses to dial it, as it refuses the
/// proxy's own ports.
pub(super) async fn bind(
    at: SocketAddr,
    upstream: &Upstream,
    serving: Serving,
) -> Result<(TcpListener, ActionsServer), StartError> {
    let listener = TcpListener::bind(at)
        .await
        .map_err(|source| StartError::Bind { addr: at, source })?;
    if let Ok(own) = listener.local_addr() {
        upstream.connector().add_own_address(own);
    }
    let client = ProxyClient::new(serving.proxy, serving.ca_der)?;
    let catalog = ActionCatalog::new(
        serving.rules.clone(),
        client,
        serving.handoff,
        serving.recorder,
    );
    let server = ActionsServer {
        server: ToolServer::new(catalog),
        rules: serving.rules,
    };
    Ok((listener, server))
}
