//! The command line (serve, run, env, ca, check, explain, test, rules, approvals, agents,
//! audit, secrets, mcp), parsed with clap. Commands return anyhow errors; `main` maps them to exit codes.

mod actions;
mod admin_client;
mod agents;
mod approvals;
mod audit;
mod ca;
mod env;
#[cfg(target_os = "linux")]
mod jail_init;
mod mcp;
mod rules;
mod run;
mod secrets;
mod serve;
mod suggest;
mod trust;

use clap::{Parser, Subcommand};

/// keyward: an egress proxy that decides, injects credentials, redacts and audits every
/// request an AI agent makes.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy (defaults: 127.0.0.1:3128, CA in certs/, rules in rules/).
    Serve(serve::ServeArgs),
    /// Run a command with keyward in front of it: proxies, CA trust and placeholders set in
    /// its environment; exits with its status.
    Run(run::RunArgs),
    /// Print the agent environment for a running keyward (sh, fish, dotenv, docker, json).
    Env(env::EnvArgs),
    /// Create or show the CA agents must trust.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// Validate rule files; print every error as file:line:col.
    Check(rules::CheckArgs),
    /// Show how the rules decide a request, condition by condition (sends nothing).
    Explain(rules::ExplainArgs),
    /// Run the `tests:` entries of the rule files.
    Test(rules::TestArgs),
    /// Draft rules from recorded traffic (`keyward rules suggest --from logs/audit.jsonl`).
    #[command(subcommand)]
    Rules(suggest::RulesCommand),
    /// List, approve or deny requests held for a person (talks to the admin API).
    Approvals(approvals::ApprovalsArgs),
    /// List, pause or resume agents: the kill switch (talks to the admin API).
    Agents(agents::AgentsArgs),
    /// Verify or read the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Draft actions from an OpenAPI document (`keyward actions import spec.yaml`).
    #[command(subcommand)]
    Actions(actions::ActionsCommand),
    /// Serve keyward's actions to an MCP client over stdio, relayed to a running keyward's
    /// actions listener.
    Mcp(mcp::McpArgs),
    /// List declared secrets (never their values).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// The processes inside `keyward run --jail` (started by keyward itself).
    #[cfg(target_os = "linux")]
    #[command(name = "jail-init", hide = true)]
    JailInit(jail_init::JailInitArgs),
}

/// Runs the parsed command; the exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // The jail's processes write their own id maps first, which a non-dumpable process
    // cannot; they close themselves to inspection once that is done.
    #[cfg(target_os = "linux")]
    if let Command::JailInit(args) = cli.command {
        return jail_init::run(args);
    }
    // Before any secret is read: closes /proc/PID/{environ,mem,maps} and ptrace to
    // other processes of the same user.
    crate::dumpable::forbid_inspection()?;
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Run(args) => run::run(args),
        Command::Env(args) => env::run(args),
        Command::Ca(cmd) => ca::run(cmd),
        Command::Check(args) => rules::check(args),
        Command::Actions(cmd) => actions::run(cmd),
        Command::Explain(args) => rules::explain_cmd(args),
        Command::Test(args) => rules::test(args),
        Command::Rules(cmd) => suggest::run(cmd),
        Command::Audit(cmd) => audit::run(cmd),
        Command::Approvals(args) => approvals::run(args),
        Command::Agents(args) => agents::run(args),
        Command::Secrets(cmd) => secrets::run(cmd),
        Command::Mcp(args) => mcp::run(args),
        #[cfg(target_os = "linux")]
        Command::JailInit(args) => jail_init::run(args),
    }
}
