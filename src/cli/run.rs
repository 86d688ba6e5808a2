//! `keyward run [serve options] [--proxy URL] -- COMMAND [ARGS…]`: start keyward on an
//! ephemeral loopback port (or use a running one), run COMMAND with the agent environment
//! (proxies, CA trust, placeholders), forward signals to it, then shut keyward down
//! gracefully (every audit entry written and synced) and exit with the command's status.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use tokio::process::{Child, Command};

use super::serve::ServeArgs;
use crate::agent_env::{absolute, agent_env, secret_source_vars, write_bundle};
use crate::ca::CertificateAuthority;
use crate::config::Config;
use crate::control::rules_in_force::{InForce, RulesInForce};
use crate::credentials::agents::proxy_url_with_credentials;
use crate::proxy::{Proxy, RunningProxy};

#[cfg(target_os = "linux")]
mod jailed;

/// The variable `keyward approvals` reads an admin token from.
const ADMIN_TOKEN_VAR: &str = "KEYWARD_ADMIN_TOKEN";

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Use the keyward listening at URL instead of starting one (its --ca-dir and --rules
    /// must be given so the CA and placeholders match).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// The agent the command acts as (its proxy credentials go into the proxy URL); the
    /// only declared agent by default.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// NO_PROXY for the command (hosts it may reach without keyward) [default: empty].
    #[arg(long, value_name = "LIST")]
    pub no_proxy: Option<String>,
    /// Run the command in a jail whose only way out is keyward (Linux): its own network,
    /// mount, user and PID namespaces; every TCP connection goes to keyward, DNS is
    /// answered by keyward, everything else is dropped; keyward's files and processes are
    /// out of its reach.
    #[arg(long, conflicts_with = "proxy")]
    pub jail: bool,
    /// With --jail: a file or directory the command must not see (repeatable), beside
    /// keyward's own (CA, audit log, secret and admin token files).
    #[arg(long, value_name = "PATH", requires = "jail")]
    pub hide: Vec<PathBuf>,
    /// The command to run, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let config_file = args.serve.config.clone();
    let listen_given = args.serve.listen.is_some();
    let admin_given = args.serve.admin_listen.is_some();
    if args.serve.learn && args.proxy.is_some() {
        anyhow::bail!(
            "--learn applies to the keyward `run` starts; start the one at --proxy with `keyward serve --learn`"
        );
    }
    let mut config = args.serve.into_config()?;
    if !listen_given {
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    }
    if !admin_given {
        // A keyward started for one command needs no admin API (and must not take 3129).
        config.admin_listen = None;
    }
    crate::logging::init_beside_command(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    if args.jail {
        #[cfg(target_os = "linux")]
        {
            let request = jailed::JailRequest {
                agent: args.agent,
                no_proxy: args.no_proxy,
                hide: args.hide,
                config_file,
                command: args.command,
            };
            return runtime.block_on(jailed::run(config, request));
        }
        #[cfg(not(target_os = "linux"))]
        anyhow::bail!("--jail needs Linux namespaces");
    }
    runtime.block_on(run_command(
        config,
        args.proxy,
        args.agent,
        args.no_proxy,
        args.command,
    ))
}

/// The keyward the command talks to: started here, or already running elsewhere.
struct Target {
    url: String,
    ca_path: PathBuf,
    active: Arc<InForce>,
    running: Option<RunningProxy>,
}

async fn run_command(
    config: Config,
    proxy: Option<String>,
    agent: Option<String>,
    no_proxy: Option<String>,
    command: Vec<OsString>,
) -> anyhow::Result<u8> {
    let hidden = admin_token_vars(&config);
    let mut target = match proxy {
        Some(url) => existing(&config, url)?,
        None => start(config).await?,
    };
    if let Some((id, token)) = target
        .active
        .agents
        .credentials_for(agent.as_deref())
        .await
        .map_err(anyhow::Error::msg)?
    {
        target.url = proxy_url_with_credentials(&target.url, &id, &token);
    }
    let ca_path = absolute(&target.ca_path);
    let bundle = write_bundle(&ca_path)?;
    let env = agent_env(
        &target.url,
        &ca_path,
        &bundle,
        no_proxy.as_deref(),
        &target.active.credentials,
    );
    let (program, rest) = command.split_first().context("no command given")?;
    let mut cmd = Command::new(program);
    cmd.args(rest);
    for var in secret_source_vars(&target.active.rules)
        .into_iter()
        .chain(hidden)
    {
        cmd.env_remove(var);
    }
    cmd.envs(env);
    let spawned = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()));
    let status = match spawned {
        Ok(mut child) => {
            let pid = child_pid(&child);
            forward_signals(&mut child, |signal| forward(pid, signal)).await
        }
        Err(e) => Err(e),
    };
    if let Some(running) = target.running {
        running.shutdown().await;
    }
    Ok(crate::exit_status::code(status?))
}

/// Variables the command must not inherit because admin tokens are read from them: the
/// `env:` sources of `admin_token` and of every approver, and the CLI's KEYWARD_ADMIN_TOKEN.
fn admin_token_vars(config: &Config) -> Vec<String> {
    let specs = config
        .admin_token
        .iter()
        .chain(config.approvers.iter().map(|a| &a.token));
    specs
        .filter_map(|spec| spec.strip_prefix("env:"))
        .map(str::to_owned)
        .chain([ADMIN_TOKEN_VAR.to_owned()])
        .collect()
}

/// Starts keyward in this process.
async fn start(config: Config) -> anyhow::Result<Target> {
    let proxy = Proxy::bind(config).await?;
    let url = format!("http://{}", proxy.local_addr());
    let ca_path = proxy.ca_path().to_path_buf();
    let active = proxy.handles().rules.current();
    tracing::info!(%url, "keyward started for the command");
    Ok(Target {
        url,
        ca_path,
        active,
        running: Some(proxy.spawn()),
    })
}

/// Uses a keyward already running at `url`; the CA and rules are read from the flags.
fn existing(config: &Config, url: String) -> anyhow::Result<Target> {
    let ca = CertificateAuthority::load(&config.ca_dir)
        .with_context(|| format!("loading the CA from {}", config.ca_dir.display()))?;
    let rules =
        RulesInForce::load(&config.rules_dir, Vec::new(), ca.placeholder_seed()).map_err(|e| {
            anyhow::anyhow!(
                "rules in {} do not compile:\n{e}",
                config.rules_dir.display()
            )
        })?;
    Ok(Target {
        url,
        ca_path: ca.cert_path().to_path_buf(),
        active: rules.current(),
        running: None,
    })
}

/// Waits for `child`, handing SIGINT, SIGTERM and SIGHUP to `on_signal`.
async fn forward_signals(
    child: &mut Child,
    mut on_signal: impl FnMut(rustix::process::Signal),
) -> anyhow::Result<ExitStatus> {
    use rustix::process::Signal;
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut hup = signal(SignalKind::hangup()).context("handling SIGHUP")?;
    loop {
        tokio::select! {
            status = child.wait() => return Ok(status?),
            _ = int.recv() => on_signal(Signal::INT),
            _ = term.recv() => on_signal(Signal::TERM),
            _ = hup.recv() => on_signal(Signal::HUP),
        }
    }
}

/// The process id of `child`, while it runs.
fn child_pid(child: &Child) -> Option<rustix::process::Pid> {
    child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
}

/// Sends `signal` to the process `pid`.
fn forward(pid: Option<rustix::process::Pid>, signal: rustix::process::Signal) {
    if let Some(pid) = pid
        && let Err(error) = rustix::process::kill_process(pid, signal)
    {
        tracing::debug!(%error, ?signal, "could not forward the signal");
    }
}
