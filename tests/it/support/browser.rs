//! A headless Chromium driven by playwright-core (both installed by scripts/test): a Node
//! process running `console/driver.cjs`, given one JSON command per line and answering one
//! JSON line each, with a deadline per command; killed on drop.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long one command may take (Chromium's start included in the first).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Where scripts/test installs playwright-core with npm; Debian's Chromium is there too.
fn node_modules() -> PathBuf {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is required (scripts/test installs Debian's chromium)"
    );
    crate::support::node_modules(&["playwright-core"])
}

/// A browser with one page open on a URL.
pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    /// Starts Chromium and opens `url`.
    pub async fn open(url: &str) -> Browser {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/console/driver.cjs"
        );
        let mut child = Command::new("node")
            .arg(script)
            .env("KW_NODE_MODULES", node_modules())
            .env("KW_CONSOLE", url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            child,
            stdin,
            lines,
        }
    }

    /// Runs `command` (`{"do": …}`) and returns its answer; panics on a failed command.
    pub async fn run(&mut self, command: serde_json::Value) -> serde_json::Value {
        let answer = self.try_run(command.clone()).await;
        assert_eq!(answer["ok"], true, "{command} failed: {answer}");
        answer
    }

    /// Runs `command` and returns its answer, failed or not.
    pub async fn try_run(&mut self, command: serde_json::Value) -> serde_json::Value {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let read = tokio::time::timeout(COMMAND_TIMEOUT, self.lines.next_line()).await;
        let line = read
            .unwrap_or_else(|_| panic!("the browser did not answer {command} in time"))
            .unwrap()
            .unwrap_or_else(|| panic!("the browser stopped before answering {command}"));
        serde_json::from_str(&line).unwrap()
    }

    /// The page errors, console errors and requests to other origins seen so far.
    pub async fn problems(&mut self) -> (Vec<String>, Vec<String>) {
        let answer = self.run(serde_json::json!({"do": "problems"})).await;
        let strings = |key: &str| -> Vec<String> {
            answer[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        (strings("problems"), strings("elsewhere"))
    }

    /// Closes the browser.
    pub async fn close(mut self) {
        let _ = self.try_run(serde_json::json!({"do": "quit"})).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}
