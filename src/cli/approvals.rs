//! `keyward approvals list | approve ID [--for 10m] | deny ID --reason …`: a client of the
//! admin API of a running keyward. The token comes from KEYWARD_ADMIN_TOKEN, `--token-file`,
//! or the token keyward generated in its CA directory; the token's name is who approves.

use std::io::Write;

use clap::{Args, Subcommand};

use super::admin_client::AdminArgs;

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(subcommand)]
    pub command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Requests waiting for a person.
    List,
    /// Let a held request through.
    Approve {
        id: String,
        /// Also approve identical follow-up requests for this long (e.g. 10m).
        #[arg(long = "for", value_name = "DURATION")]
        window: Option<String>,
    },
    /// Refuse a held request; the agent gets 403 with the reason.
    Deny {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub fn run(args: ApprovalsArgs) -> anyhow::Result<u8> {
    let (method, path, body) = match &args.command {
        ApprovalsCommand::List => ("GET", "/approvals".to_owned(), serde_json::Value::Null),
        ApprovalsCommand::Approve { id, window } => (
            "POST",
            format!("/approvals/{id}/approve"),
            serde_json::json!({ "for": window }),
        ),
        ApprovalsCommand::Deny { id, reason } => (
            "POST",
            format!("/approvals/{id}/deny"),
            serde_json::json!({ "reason": reason }),
        ),
    };
    let (status, text) = args.admin.call(method, &path, &body)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(if status.is_success() { 0 } else { 1 })
}
