//! `keyward check`, `keyward explain` and `keyward test`: the rule author's tools. Nothing
//! is sent anywhere; every decision is the one the proxy would make.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use http::{HeaderName, HeaderValue};

use crate::policy::{AgentId, RuleSet, SampleRequest, explain};

/// `keyward check [DIR]`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rules directory, or one rule file.
    #[arg(default_value = "rules", value_name = "DIR|FILE")]
    pub dir: PathBuf,
}

/// `keyward test [DIR]`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Rules directory.
    #[arg(default_value = "rules")]
    pub dir: PathBuf,
}

/// `keyward explain METHOD URL`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Rules directory.
    #[arg(long, default_value = "rules")]
    pub rules: PathBuf,
    /// The agent making the request.
    #[arg(long)]
    pub agent: Option<String>,
    /// A request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// The body: `@FILE`, `-` for standard input, or the text itself.
    #[arg(long)]
    pub body: Option<String>,
    /// The method, e.g. POST.
    pub method: String,
    /// The absolute URL, e.g. https://api.github.com/repos/acme/app/issues.
    pub url: String,
}

/// Loads and compiles a rules directory, printing every error as `file:line:col: message`.
fn load(dir: &std::path::Path, out: &mut impl Write) -> anyhow::Result<Option<RuleSet>> {
    match RuleSet::load_dir(dir) {
        Ok(rules) => Ok(Some(rules)),
        Err(errors) => {
            for e in &errors.0 {
                writeln!(out, "{e}")?;
            }
            writeln!(out, "{} error(s) in {}", errors.0.len(), dir.display())?;
            Ok(None)
        }
    }
}

pub fn check(args: CheckArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let Some(rules) = load(&args.dir, &mut out)? else {
        return Ok(1);
    };
    for warning in placeholder_warnings(&rules) {
        writeln!(out, "warning: {warning}")?;
    }
    writeln!(out, "ok: {}", rules.summary())?;
    Ok(0)
}

pub fn test(args: TestArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let Some(rules) = load(&args.dir, &mut out)? else {
        return Ok(1);
    };
    let report = rules.run_tests();
    writeln!(out, "{report}")?;
    Ok(if report.all_passed() { 0 } else { 1 })
}

pub fn explain_cmd(args: ExplainArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let Some(rules) = load(&args.rules, &mut out)? else {
        return Ok(1);
    };
    let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("invalid method {:?}", args.method))?;
    let mut request = SampleRequest::from_url(method, &args.url)?;
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("invalid --header {header:?}: expected `Name: value`");
        };
        request.headers.append(
            HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("invalid header name {name:?}"))?,
            HeaderValue::from_str(value.trim())
                .with_context(|| format!("invalid header value for {name}"))?,
        );
    }
    request.body = match args.body.as_deref() {
        None => None,
        Some("-") => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Some(buf)
        }
        Some(text) => match text.strip_prefix('@') {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("reading {path}"))?),
            None => Some(text.as_bytes().to_vec()),
        },
    };
    let agent = args.agent.as_deref().map(AgentId::from);
    let decision = rules.decide_sample(&request, agent.as_ref());
    write!(out, "{}", explain(&decision))?;
    if !explain(&decision).ends_with('\n') {
        writeln!(out)?;
    }
    Ok(0)
}

/// Placeholders that are short or look guessable: an agent could forge or stumble on them.
fn placeholder_warnings(rules: &RuleSet) -> Vec<String> {
    rules
        .secrets()
        .iter()
        .filter_map(|s| {
            let p = s.placeholder.as_deref()?;
            let distinct = p.bytes().collect::<std::collections::BTreeSet<_>>().len();
            (p.len() < 20 || distinct < 10).then(|| {
                format!(
                    "{}: placeholder of secret `{}` is short or guessable; leave it out to get a random one",
                    s.pos, s.name
                )
            })
        })
        .collect()
}
