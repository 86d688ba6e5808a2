//! `keyward jail-init` (hidden): the processes inside a `keyward run --jail`, started by
//! keyward itself — the jail's setup, and with `--pid1` the jail's PID 1.

use std::ffi::OsString;

use anyhow::Context;
use clap::Args;

use crate::jail::{JailSpec, init};

#[derive(Debug, Args)]
pub struct JailInitArgs {
    /// Run as the jail's PID 1 (started by the setup).
    #[arg(long)]
    pub pid1: bool,
    /// The jail's shape, as `keyward run` wrote it.
    #[arg(long, value_name = "JSON")]
    pub spec: String,
    /// The command to run in the jail, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

pub fn run(args: JailInitArgs) -> anyhow::Result<u8> {
    let spec = JailSpec::from_arg(&args.spec).context("reading the jail's spec")?;
    let code = if args.pid1 {
        init::pid1(&spec, &args.command)?
    } else {
        init::setup(&spec, &args.command)?
    };
    Ok(code)
}
