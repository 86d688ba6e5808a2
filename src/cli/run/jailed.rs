//! `keyward run --jail`: the command in a jail whose only way out is this keyward. Builds
//! the jail's spec from the configuration (what to hide, what to keep read-only), starts the
//! jail's setup, serves the sockets it bound inside, lets the command start, passes signals
//! on, and shuts down once the command has ended.

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;

use super::{admin_token_vars, forward_signals};
use crate::agent_env::{absolute, agent_env, secret_source_vars, write_bundle};
use crate::ca::CertificateAuthority;
use crate::config::Config;
use crate::control::rules_in_force::RulesInForce;
use crate::credentials::agents::proxy_url_with_credentials;
use crate::jail::network::{ANSWER_ADDRESS, JailSockets, PROXY_PORT};
use crate::jail::{JailSpec, control, init};
use crate::policy::CredentialSource;
use crate::proxy::{DnsSockets, Listeners, Proxy};

/// How long the jail's setup may take before keyward gives up on it.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What `run --jail` is given beside the configuration.
pub struct JailRequest {
    pub agent: Option<String>,
    pub no_proxy: Option<String>,
    pub hide: Vec<PathBuf>,
    /// The `--config` file, kept read-only in the jail.
    pub config_file: Option<PathBuf>,
    pub command: Vec<OsString>,
}

/// Runs the command in a jail; its exit code.
pub async fn run(mut config: Config, request: JailRequest) -> anyhow::Result<u8> {
    let ca = CertificateAuthority::load_or_create(&config.ca_dir)
        .with_context(|| format!("loading the CA from {}", config.ca_dir.display()))?;
    let rules = RulesInForce::load(
        &config.rules_dir,
        config.allow.clone(),
        ca.placeholder_seed(),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "rules in {} do not compile:\n{e}",
            config.rules_dir.display()
        )
    })?;
    let active = rules.current();
    let mut url = format!("http://127.0.0.1:{PROXY_PORT}");
    if let Some((id, token)) = active
        .agents
        .credentials_for(request.agent.as_deref())
        .await
        .map_err(anyhow::Error::msg)?
    {
        url = proxy_url_with_credentials(&url, &id, &token);
        // What the command sends around the proxy port is its too.
        config.transparent_agent = Some(id.as_str().to_owned());
    }
    let ca_path = absolute(ca.cert_path());
    let bundle = write_bundle(&ca_path)?;
    let spec = spec_for(&config, &active.rules, &ca_path, &bundle, &request);
    let cwd = std::env::current_dir().context("the working directory")?;
    if let Some(hidden) = spec.covering(&cwd) {
        anyhow::bail!(
            "the jail would hide {} (keyward's own files), which holds the working directory {}: \
             run the command elsewhere or keep keyward's CA and audit log outside it",
            hidden.display(),
            cwd.display()
        );
    }
    let env = agent_env(
        &url,
        &ca_path,
        &bundle,
        request.no_proxy.as_deref(),
        &active.credentials,
    );

    let (ours, theirs) = UnixStream::pair().context("creating the jail's control channel")?;
    let mut setup = tokio::process::Command::new(init::SELF_EXE);
    setup
        .arg(init::SUBCOMMAND)
        .arg(init::SPEC_FLAG)
        .arg(spec.to_arg())
        .arg("--")
        .args(&request.command)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .kill_on_drop(true);
    for var in secret_source_vars(&active.rules)
        .into_iter()
        .chain(admin_token_vars(&config))
    {
        setup.env_remove(var);
    }
    setup.envs(env);
    let mut child = setup.spawn().context("starting the jail")?;
    // The setup's own stdin end is the child's now.
    drop(setup);

    ours.set_read_timeout(Some(SETUP_TIMEOUT))
        .context("the jail's control channel")?;
    let receiver = ours.try_clone().context("the jail's control channel")?;
    let sockets: JailSockets = tokio::task::spawn_blocking(move || control::recv_ready(&receiver))
        .await
        .context("waiting for the jail")??;
    ours.set_read_timeout(None)
        .context("the jail's control channel")?;
    let JailSockets {
        proxy,
        transparent,
        dns,
    } = sockets;
    let listeners = Listeners {
        proxy: Some(proxy),
        transparent,
        dns: Some(DnsSockets {
            sockets: dns,
            answer: ANSWER_ADDRESS,
        }),
    };
    let proxy = Proxy::bind_with(config, listeners).await?;
    let running = proxy.spawn();
    tracing::info!("keyward started for the jailed command");
    control::send_go(&ours, std::io::stdin().as_fd()).context("starting the jailed command")?;
    let status = forward_signals(&mut child, |signal| {
        let number = u8::try_from(signal.as_raw()).unwrap_or(0);
        if let Err(error) = control::send_signal(&ours, number) {
            tracing::debug!(%error, "could not pass the signal to the jail");
        }
    })
    .await;
    drop(ours);
    running.shutdown().await;
    Ok(crate::exit_status::code(status?))
}

/// The jail for this configuration: keyward's CA directory and audit log hidden (the CA
/// certificate and bundle shown), secret and admin token files hidden, the rules and the
/// config file read-only, and `hide` hidden too.
fn spec_for(
    config: &Config,
    rules: &crate::policy::RuleSet,
    ca_path: &Path,
    bundle: &Path,
    request: &JailRequest,
) -> JailSpec {
    let mut spec = JailSpec::new();
    spec.hide(&config.ca_dir);
    spec.show(ca_path);
    spec.show(bundle);
    if let Some(audit) = &config.audit {
        match audit.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => spec.hide(dir),
            None => spec.hide(&audit.path),
        }
    }
    for decl in rules.secrets() {
        if let CredentialSource::File(path) = &decl.source {
            spec.hide(Path::new(path));
        }
    }
    let token_specs = config
        .admin_token
        .iter()
        .chain(config.approvers.iter().map(|a| &a.token));
    for path in token_specs.filter_map(|s| s.strip_prefix("file:")) {
        spec.hide(Path::new(path));
    }
    for path in &request.hide {
        spec.hide(path);
    }
    spec.read_only(&config.rules_dir);
    if let Some(path) = &request.config_file {
        spec.read_only(path);
    }
    spec
}
