//! `keyward serve`: merge defaults, `--config` and flags; start the proxy; print where it
//! listens and what to paste into an agent's environment; stop gracefully on SIGINT/SIGTERM
//! (in-flight exchanges finish, every audit entry is written and synced, then it exits).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{Config, FileConfig, HostAllow, LogFormat, ResolveOverride};
use crate::proxy::Proxy;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A keyward.yaml with the same keys as these flags (flags win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address agents connect to [default: 127.0.0.1:3128].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Address where connections redirected by iptables/nft REDIRECT arrive, served for
    /// their original destination (repeatable; replaces the file's list).
    #[arg(long = "transparent-listen", value_name = "ADDR")]
    pub transparent_listen: Vec<SocketAddr>,
    /// The declared agent redirected connections are attributed to (required when agents
    /// are declared).
    #[arg(long, value_name = "NAME")]
    pub transparent_agent: Option<String>,
    /// Directory of the CA (created on first start) [default: certs].
    #[arg(long)]
    pub ca_dir: Option<PathBuf>,
    /// Directory of rule files [default: rules].
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// Extra PEM roots trusted for upstream servers (repeatable).
    #[arg(long = "upstream-ca")]
    pub upstream_ca: Vec<PathBuf>,
    /// HOST:PORT:ADDR — connect to ADDR for HOST:PORT, keeping SNI and certificate checks
    /// for HOST (repeatable; ADDR may carry a port).
    #[arg(long)]
    pub resolve: Vec<ResolveOverride>,
    /// HOST[:PORT] — allow every request to this host (repeatable).
    #[arg(long)]
    pub allow: Vec<HostAllow>,
    /// Address of the admin API (health, metrics, approvals, reload) [default: 127.0.0.1:3129].
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
    /// Serve the rule files' actions over MCP (streamable HTTP at /mcp) on this address.
    #[arg(long, value_name = "ADDR")]
    pub actions_listen: Option<SocketAddr>,
    /// Where the admin API token comes from: env:NAME or file:PATH [default: generated
    /// into the CA directory as admin-token].
    #[arg(long, value_name = "SOURCE")]
    pub admin_token: Option<String>,
    /// The audit log (JSON Lines, hash-chained) [default: logs/audit.jsonl].
    #[arg(long, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Also write every audit entry to stdout as JSON (for a cluster log pipeline).
    #[arg(long)]
    pub audit_stdout: bool,
    /// Log format [default: text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Threads serving agents' connections [default: 0, one per CPU].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Learn mode: forward what the rules would deny or hold, recording the would-be
    /// decision (keyward's own guards still refuse); for drafting rules with `keyward
    /// rules suggest`, never for production.
    #[arg(long)]
    pub learn: bool,
}

impl ServeArgs {
    /// Defaults, then the file, then the flags.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let mut config = Config::default();
        if let Some(path) = &self.config {
            FileConfig::load(path)?.apply(&mut config)?;
        }
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if !self.transparent_listen.is_empty() {
            config.transparent_listen = self.transparent_listen;
        }
        if let Some(v) = self.transparent_agent {
            config.transparent_agent = Some(v);
        }
        if let Some(v) = self.ca_dir {
            config.ca_dir = v;
        }
        if let Some(v) = self.rules {
            config.rules_dir = v;
        }
        config.upstream_ca.extend(self.upstream_ca);
        config.resolve.extend(self.resolve);
        config.allow.extend(self.allow);
        if let Some(v) = self.log_format {
            config.log_format = v;
        }
        if let Some(v) = self.workers {
            config.workers = v;
        }
        config.learn = self.learn;
        if let Some(v) = self.admin_listen {
            config.admin_listen = Some(v);
        }
        if let Some(v) = self.actions_listen {
            config.actions_listen = Some(v);
        }
        if let Some(v) = self.admin_token {
            config.admin_token = Some(v);
        }
        if let Some(v) = self.audit_log {
            // The flag moves the log; the rest of `audit:` (checkpoints, replica) stays.
            match config.audit.as_mut() {
                Some(audit) => audit.path = v,
                None => config.audit = Some(crate::audit::AuditConfig::new(v)),
            }
        }
        if self.audit_stdout
            && let Some(audit) = config.audit.as_mut()
        {
            audit.also_stdout = true;
        }
        Ok(config)
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let config = args.into_config()?;
    crate::logging::init(config.log_format);
    // Agents are served on the proxy's serving threads (a runtime each); this one runs the
    // admin API, reloads, signals and the audit writer.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config))?;
    Ok(0)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let proxy = Proxy::bind(config).await?;
    print_banner(&proxy)?;
    #[cfg(unix)]
    tokio::spawn(crate::control::reload::on_sighup(
        proxy.handles().reloader.clone(),
        proxy.shutdown_token(),
    ));
    let token = proxy.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: no new connections; finishing in-flight exchanges");
        token.cancel();
    });
    proxy.run().await;
    tracing::info!("stopped");
    Ok(())
}

fn print_banner(proxy: &Proxy) -> anyhow::Result<()> {
    let addr = proxy.local_addr();
    let ca =
        std::fs::canonicalize(proxy.ca_path()).unwrap_or_else(|_| proxy.ca_path().to_path_buf());
    let mut out = std::io::stdout().lock();
    writeln!(out, "keyward is listening on {addr}")?;
    if proxy.config().learn {
        writeln!(
            out,
            "LEARN MODE: requests the rules would deny or hold are forwarded and recorded; do not use in production"
        )?;
    }
    for transparent in proxy.transparent_addrs() {
        writeln!(
            out,
            "Transparent listener: {transparent} (redirected connections, for their original destination)"
        )?;
    }
    writeln!(out, "CA certificate: {}", ca.display())?;
    writeln!(
        out,
        "Rules: {} ({})",
        proxy.config().rules_dir.display(),
        proxy.handles().rules.current().rules.summary()
    )?;
    if let Some(admin) = proxy.admin_addr() {
        writeln!(
            out,
            "Admin API: http://{admin} (healthz, metrics, approvals, reload)"
        )?;
        match proxy.admin_token_file() {
            Some(path) => {
                let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                writeln!(
                    out,
                    "Admin token: in {} (generated; readable by this user only)",
                    path.display()
                )?;
            }
            None => writeln!(out, "Admin token: as configured (admin_token, approvers)")?,
        }
    }
    if let Some(actions) = proxy.actions_addr() {
        writeln!(
            out,
            "Actions over MCP: http://{actions}/mcp (stdio: keyward mcp --url http://{actions}/mcp)"
        )?;
    }
    writeln!(out, "Point an agent at it with:")?;
    writeln!(
        out,
        "  export HTTPS_PROXY=http://{addr} HTTP_PROXY=http://{addr}"
    )?;
    writeln!(out, "  export SSL_CERT_FILE={}", ca.display())?;
    out.flush()?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
