//! `keyward env`: print the agent environment for a keyward already running (proxies, CA
//! trust, placeholders), as sh, fish, dotenv, docker `--env-file` lines or JSON.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::agent_env::{BUNDLE_FILE, EnvFormat, absolute, agent_env, render, write_bundle};
use crate::ca::CertificateAuthority;
use crate::control::rules_in_force::RulesInForce;
use crate::credentials::agents::proxy_url_with_credentials;

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The running keyward's proxy URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:3128")]
    pub proxy: String,
    /// Its CA directory (`bundle.pem` is written there next to `ca.pem`).
    #[arg(long, default_value = "certs")]
    pub ca_dir: PathBuf,
    /// Its rules directory (for the placeholders and the variables they go in).
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "sh")]
    pub format: EnvFormat,
    /// The agent whose proxy credentials go into the proxy URL (the only declared agent by
    /// default).
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
    /// NO_PROXY for the agent [default: empty].
    #[arg(long, value_name = "LIST")]
    pub no_proxy: Option<String>,
    /// Name the CA files as DIR/ca.pem and DIR/bundle.pem: where the agent sees the CA
    /// directory (e.g. its mount point in a container) when that differs from --ca-dir.
    #[arg(long, value_name = "DIR")]
    pub certs_at: Option<PathBuf>,
}

pub fn run(args: EnvArgs) -> anyhow::Result<u8> {
    let ca = CertificateAuthority::load(&args.ca_dir)
        .with_context(|| format!("loading the CA from {}", args.ca_dir.display()))?;
    let rules = RulesInForce::load(&args.rules, Vec::new(), ca.placeholder_seed())
        .map_err(|e| anyhow::anyhow!("rules in {} do not compile:\n{e}", args.rules.display()))?;
    let local_ca = absolute(ca.cert_path());
    let written = write_bundle(&local_ca);
    let (ca_path, bundle) = match &args.certs_at {
        // The agent sees the CA directory elsewhere (a container mount): name the files
        // there; mount this directory's ca.pem and bundle.pem (never ca-key.pem) at DIR.
        Some(dir) => {
            if let Err(e) = &written {
                writeln!(std::io::stderr(), "keyward: warning: {e}")?;
            }
            let name = local_ca
                .file_name()
                .context("the CA path has no file name")?;
            (dir.join(name), dir.join(BUNDLE_FILE))
        }
        None => (local_ca, written?),
    };
    let current = rules.current();
    let credentials = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(current.agents.credentials_for(args.agent.as_deref()))
        .map_err(anyhow::Error::msg)?;
    let proxy = match credentials {
        Some((id, token)) => proxy_url_with_credentials(&args.proxy, &id, &token),
        None => args.proxy.clone(),
    };
    let env = agent_env(
        &proxy,
        &ca_path,
        &bundle,
        args.no_proxy.as_deref(),
        &rules.current().credentials,
    );
    let text = render(args.format, &env)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(0)
}
