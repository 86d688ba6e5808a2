//! `keyward agents list | pause NAME|--all [--reason TEXT] | resume NAME|--all`: the kill
//! switch, a client of the admin API of a running keyward (the token as for `keyward
//! approvals`; its name is who paused).

use std::io::Write;

use anyhow::bail;
use clap::{Args, Subcommand};

use super::admin_client::AdminArgs;

#[derive(Debug, Args)]
pub struct AgentsArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(subcommand)]
    pub command: AgentsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// The declared agents and whether each is paused.
    List,
    /// Stop an agent at once: its requests are refused, its connections, tunnels and
    /// WebSockets closed, its held requests denied.
    Pause {
        /// The agent to pause.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Pause every agent.
        #[arg(long)]
        all: bool,
        /// Why: the agents' refusals say it.
        #[arg(long)]
        reason: Option<String>,
    },
    /// End a pause.
    Resume {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// End the pause of every agent.
        #[arg(long)]
        all: bool,
    },
}

/// The admin API path for `verb` on `name` (all agents without one).
fn path(name: Option<&str>, verb: &str) -> anyhow::Result<String> {
    match name {
        Some(name) if name.is_empty() || name.contains(['/', '?', '#', ' ']) => {
            bail!("invalid agent name {name:?}")
        }
        Some(name) => Ok(format!("/agents/{name}/{verb}")),
        None => Ok(format!("/agents/{verb}")),
    }
}

pub fn run(args: AgentsArgs) -> anyhow::Result<u8> {
    let (method, path, body) = match &args.command {
        AgentsCommand::List => ("GET", "/agents".to_owned(), serde_json::Value::Null),
        AgentsCommand::Pause { name, reason, .. } => (
            "POST",
            path(name.as_deref(), "pause")?,
            serde_json::json!({ "reason": reason }),
        ),
        AgentsCommand::Resume { name, .. } => (
            "POST",
            path(name.as_deref(), "resume")?,
            serde_json::Value::Null,
        ),
    };
    let (status, text) = args.admin.call(method, &path, &body)?;
    let mut out = std::io::stdout().lock();
    if status.is_success()
        && matches!(args.command, AgentsCommand::List)
        && let Ok(list) = serde_json::from_str::<serde_json::Value>(&text)
    {
        write_list(&mut out, &list)?;
    } else {
        writeln!(out, "{text}")?;
    }
    Ok(if status.is_success() { 0 } else { 1 })
}

/// One line per agent: its name, and `paused by WHO: REASON` or `active`.
fn write_list(out: &mut impl Write, list: &serde_json::Value) -> anyhow::Result<()> {
    let all = list.get("all").filter(|a| !a.is_null());
    if let Some(all) = all {
        writeln!(out, "all agents paused{}", describe(all))?;
    }
    let agents = list.get("agents").and_then(|a| a.as_array());
    for agent in agents.into_iter().flatten() {
        let name = agent.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        match agent.get("pause").or(all) {
            Some(pause) => writeln!(out, "{name}\tpaused{}", describe(pause))?,
            None => writeln!(out, "{name}\tactive")?,
        }
    }
    Ok(())
}

fn describe(pause: &serde_json::Value) -> String {
    let by = pause.get("by").and_then(|b| b.as_str()).unwrap_or("?");
    match pause.get("reason").and_then(|r| r.as_str()) {
        Some(reason) => format!(" by {by}: {reason}"),
        None => format!(" by {by}"),
    }
}
