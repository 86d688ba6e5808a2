//! `keyward rules suggest --from logs/audit.jsonl [--agent NAME]`: a draft rule file from
//! the requests an audit log recorded (learn mode's), rotated files included, checked
//! before it is printed.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::audit::AuditEntry;
use crate::policy::suggest::{self, Filter};

/// `keyward rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Draft rules from recorded traffic (run `keyward serve --learn` first): one rule per
    /// host, method and path shape, printed to standard output.
    Suggest(SuggestArgs),
}

/// `keyward rules suggest`.
#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// The audit log to read (its rotated files too, oldest first).
    #[arg(long, value_name = "FILE", default_value = crate::config::DEFAULT_AUDIT_LOG)]
    pub from: PathBuf,
    /// Only this agent's requests.
    #[arg(long, value_name = "NAME")]
    pub agent: Option<String>,
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<u8> {
    match cmd {
        RulesCommand::Suggest(args) => suggest_cmd(args),
    }
}

fn suggest_cmd(args: SuggestArgs) -> anyhow::Result<u8> {
    let files = crate::audit::log_files(&args.from)
        .with_context(|| format!("listing the files of {}", args.from.display()))?;
    if files.is_empty() {
        anyhow::bail!("no audit log at {}", args.from.display());
    }
    let mut entries = Vec::new();
    for file in &files {
        entries.extend(read_entries(file)?);
    }
    let filter = Filter {
        agent: args.agent,
        source: args.from.display().to_string(),
    };
    let draft = suggest::draft(&entries, &filter)?;
    let mut out = std::io::stdout().lock();
    out.write_all(draft.yaml.as_bytes())?;
    out.flush()?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "drafted {} rules from {} recorded requests; check them with `keyward check` and `keyward test`",
        draft.rules, draft.requests
    )?;
    Ok(0)
}

/// Every entry of the log; a line that is not an entry is an error naming it.
fn read_entries(path: &std::path::Path) -> anyhow::Result<Vec<AuditEntry>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut entries = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an audit entry", path.display(), n + 1))?;
        entries.push(entry);
    }
    Ok(entries)
}
