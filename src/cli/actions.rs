//! `keyward actions import`: drafts actions from an OpenAPI 3 document (YAML or JSON) for a
//! person to review; the draft goes to stdout (or `--out`) and passes `keyward check`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::actions::openapi::{self, Options};
use crate::policy::{RuleSet, Source};

#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// Draft actions from an OpenAPI 3 document.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The OpenAPI document (YAML or JSON).
    pub spec: PathBuf,
    /// Only this operationId (repeatable).
    #[arg(long = "only", value_name = "OPERATION_ID")]
    pub only: Vec<String>,
    /// The first word of the actions' names (default: from the document's title).
    #[arg(long)]
    pub prefix: Option<String>,
    /// The base URL, in place of the document's first server.
    #[arg(long)]
    pub server: Option<String>,
    /// Write the draft here instead of stdout.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

pub fn run(cmd: ActionsCommand) -> anyhow::Result<u8> {
    let ActionsCommand::Import(args) = cmd;
    let text = std::fs::read_to_string(&args.spec)
        .with_context(|| format!("cannot read {}", args.spec.display()))?;
    let doc: Value = serde_saphyr::from_str(&text)
        .with_context(|| format!("{} is not YAML or JSON", args.spec.display()))?;
    let options = Options {
        only: args.only,
        prefix: args.prefix,
        server: args.server,
    };
    let source = args.spec.display().to_string();
    let draft = openapi::draft(&doc, &source, &options)?;
    // The draft is checked as `keyward check` would, so a person starts from a valid file.
    let check = RuleSet::compile(&[Source {
        path: "draft.yaml".into(),
        text: draft.yaml.clone(),
    }]);
    if let Err(errors) = check {
        bail!("the draft does not pass `keyward check` (please report this):\n{errors}");
    }
    for skipped in &draft.skipped {
        eprintln!("not imported: {skipped}");
    }
    match args.out {
        Some(path) => std::fs::write(&path, &draft.yaml)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout()
            .write_all(draft.yaml.as_bytes())
            .context("cannot write the draft")?,
    }
    Ok(0)
}
