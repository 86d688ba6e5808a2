//! `keyward secrets list`: each declared secret's name, source, placeholder, bound hosts and
//! whether its source resolves now (an OAuth 2.0 secret asks its token endpoint, a secret
//! manager is read) — never the value.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::ca::CertificateAuthority;
use crate::control::rules_in_force::RulesInForce;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List declared secrets.
    List {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// CA directory (default placeholders are derived from the CA key).
        #[arg(long, default_value = "certs")]
        ca_dir: PathBuf,
    },
}

pub fn run(cmd: SecretsCommand) -> anyhow::Result<u8> {
    let SecretsCommand::List { rules, ca_dir } = cmd;
    let ca = CertificateAuthority::load_or_create(&ca_dir).context("loading the CA")?;
    let active = RulesInForce::load(&rules, Vec::new(), ca.placeholder_seed())
        .map_err(|e| anyhow::anyhow!("rules in {} do not compile:\n{e}", rules.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // OAuth 2.0 secrets obtain a token to tell whether they resolve: over verified TLS to
    // the token endpoint, with the system's roots.
    let roots = crate::upstream::upstream_roots(&[]).context("loading TLS roots")?;
    let upstream = {
        let _entered = runtime.enter();
        crate::upstream::Upstream::new(roots, &[], &crate::config::Limits::default())?
    };
    active.set_token_client(upstream);
    let current = active.current();
    let mut out = std::io::stdout().lock();
    for c in current.credentials.iter() {
        let status = match runtime.block_on(c.source.resolve()) {
            Ok(_) => "resolves".to_owned(),
            Err(e) => format!("does not resolve: {e}"),
        };
        let hosts: Vec<String> = c.hosts.iter().map(|h| h.to_string()).collect();
        writeln!(
            out,
            "{}\n  source: {}\n  placeholder: {}\n  env: {}\n  hosts: {}\n  status: {status}",
            c.name,
            c.source.describe(),
            c.placeholder.as_str(),
            c.env_var.as_deref().unwrap_or("-"),
            hosts.join(", "),
        )?;
    }
    Ok(0)
}
