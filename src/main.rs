//! The `keyward` binary: parse the command line, run the command, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = keyward::cli::Cli::parse();
    match keyward::cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("keyward: {err:#}");
            ExitCode::from(2)
        }
    }
}
