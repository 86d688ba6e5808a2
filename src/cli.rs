//! The command line: `keyward serve` and `keyward ca`, parsed with clap. Commands return
//! anyhow errors; `main` maps them to exit codes.

mod ca;
mod serve;

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
    /// Create or show the CA agents must trust.
    #[command(subcommand)]
    Ca(ca::CaCommand),
}

/// Runs the parsed command; the exit code on success.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Ca(cmd) => ca::run(cmd),
    }
}
