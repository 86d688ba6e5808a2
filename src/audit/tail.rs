//! `keyward audit tail`: reads entries from log files in order, filtered by agent, decision
//! and host, and renders each as one readable line.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;

use super::decision::{Decision, Mode};
use super::entry::AuditEntry;
use crate::policy::AgentId;

/// Which entries `tail` yields; `None` fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TailFilter {
    /// Only entries of this agent (exact match).
    pub agent: Option<String>,
    /// Only entries with this decision.
    pub decision: Option<Decision>,
    /// Only entries for this host (ASCII case-insensitive).
    pub host: Option<String>,
    /// Only entries this rule decided (exact match).
    pub rule: Option<String>,
}

impl TailFilter {
    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.agent
            .as_ref()
            .is_none_or(|a| entry.agent.as_ref().map(AgentId::as_str) == Some(a.as_str()))
            && self.decision.is_none_or(|d| entry.decision == d)
            && self
                .host
                .as_ref()
                .is_none_or(|h| entry.host.eq_ignore_ascii_case(h))
            && self
                .rule
                .as_ref()
                .is_none_or(|r| entry.rule.as_ref().is_some_and(|id| id.as_str() == r))
    }
}

/// A file or line `tail` could not read; the iteration goes on after it.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The file could not be opened or read; the rest of it is skipped.
    #[error("cannot read audit log {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The line is not an audit entry.
    #[error("{path}:{line} is not an audit entry: {source}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: u64,
        /// The parser's error.
        source: serde_json::Error,
    },
}

/// The entries of `paths` (in order) that pass `filter`, read lazily. Broken lines and
/// unreadable files come out as errors between the entries.
pub fn tail(
    paths: &[PathBuf],
    filter: TailFilter,
) -> impl Iterator<Item = Result<AuditEntry, TailError>> + use<> {
    Tail {
        paths: paths.iter().cloned().collect(),
        current: None,
        filter,
    }
}

/// The reading state behind [`tail`].
struct Tail {
    /// Files not opened yet.
    paths: VecDeque<PathBuf>,
    /// The file being read, its reader and the number of the last line read.
    current: Option<(PathBuf, BufReader<File>, u64)>,
    filter: TailFilter,
}

impl Iterator for Tail {
    type Item = Result<AuditEntry, TailError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some((path, reader, line_no)) = self.current.as_mut() else {
                let path = self.paths.pop_front()?;
                match File::open(&path) {
                    Ok(f) => self.current = Some((path, BufReader::new(f), 0)),
                    Err(source) => return Some(Err(TailError::Read { path, source })),
                }
                continue;
            };
            let mut line = Vec::new();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.current = None;
                    continue;
                }
                Ok(_) => *line_no += 1,
                Err(source) => {
                    let path = path.clone();
                    self.current = None;
                    return Some(Err(TailError::Read { path, source }));
                }
            }
            // A signed checkpoint ([`super::checkpoint`]) is no exchange: not shown.
            if line.starts_with(br#"{"hash":"#) && is_checkpoint_line(&line) {
                continue;
            }
            match serde_json::from_slice::<AuditEntry>(&line) {
                Ok(entry) if self.filter.matches(&entry) => return Some(Ok(entry)),
                Ok(_) => {}
                Err(source) => {
                    return Some(Err(TailError::BadLine {
                        path: path.clone(),
                        line: *line_no,
                        source,
                    }));
                }
            }
        }
    }
}

/// Whether a line is a checkpoint. Only lines starting with `{"hash":` are parsed for it:
/// an entry always has `bytes_in`, which sorts before `hash`, so no entry starts so.
pub(super) fn is_checkpoint_line(line: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(line)
        .is_ok_and(|v| super::checkpoint::is_checkpoint(&v))
}

/// One line for people: time, decision, agent, method, URL, status, rule, reason, and what
/// the rules would have decided (learn mode, shadow rules).
/// Control characters from the request (path, reason) are escaped so that a crafted path
/// cannot rewrite the operator's terminal.
pub fn render(entry: &AuditEntry) -> String {
    let mut out = String::new();
    let decision = match entry.mode {
        Mode::Enforce => entry.decision.to_string(),
        Mode::Shadow => format!("{}(shadow)", entry.decision),
        Mode::Learn => format!("{}(learn)", entry.decision),
    };
    let status = entry.status.map_or("-".to_owned(), |s| s.to_string());
    let _ = write!(
        out,
        "{} {decision:<12} {} {} {}://{}:{}{}",
        clean(&entry.time),
        clean(entry.agent.as_ref().map_or("-", AgentId::as_str)),
        clean(&entry.method),
        clean(&entry.scheme),
        clean(&entry.host),
        entry.port,
        clean(&entry.path),
    );
    if let Some(query) = &entry.query {
        let _ = write!(out, "?{}", clean(query));
    }
    let _ = write!(out, " {status}");
    if let Some(rule) = &entry.rule {
        let _ = write!(out, " rule={}", clean(rule.as_str()));
    }
    if let Some(reason) = &entry.reason {
        let _ = write!(out, " reason={reason:?}");
    }
    if let Some(would) = &entry.would {
        let _ = write!(out, " would={}", would.decision);
        if let Some(rule) = &would.rule {
            let _ = write!(out, " would_rule={}", clean(rule.as_str()));
        }
    }
    out
}

/// `s` with control characters escaped (`\n`, `\u{1b}`).
fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{GENESIS_HASH, seal};

    fn entry(id: &str, agent: &str, decision: Decision, host: &str) -> AuditEntry {
        let mut e = AuditEntry::new(id, "127.0.0.1:9", "GET", "https", host, 443, "/x");
        e.agent = Some(agent.into());
        e.decision = decision;
        e
    }

    #[test]
    fn tail_filters_and_reports_bad_lines_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut text = String::new();
        let mut prev = GENESIS_HASH.to_owned();
        for e in [
            entry("1", "bot", Decision::Allow, "a.example"),
            entry("2", "bot", Decision::Deny, "A.example"),
            entry("3", "other", Decision::Deny, "a.example"),
        ] {
            let mut e = e;
            text.push_str(&String::from_utf8(seal(&mut e, &prev).unwrap()).unwrap());
            text.push('\n');
            prev = e.hash;
        }
        text.push_str("{broken\n");
        std::fs::write(&path, text).unwrap();
        let filter = TailFilter {
            agent: Some("bot".into()),
            decision: Some(Decision::Deny),
            host: Some("a.example".into()),
            rule: None,
        };
        let got: Vec<_> = tail(std::slice::from_ref(&path), filter).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].as_ref().unwrap().request_id, "2");
        match &got[1] {
            Err(TailError::BadLine { line: 4, .. }) => {}
            other => panic!("expected a bad line 4, got {other:?}"),
        }
        assert_eq!(tail(&[path], TailFilter::default()).count(), 4);
    }

    #[test]
    fn checkpoints_are_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut e = entry("1", "bot", Decision::Allow, "a.example");
        let mut text = String::from_utf8(seal(&mut e, GENESIS_HASH).unwrap()).unwrap();
        let signer =
            crate::audit::checkpoint::Signer::new(ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
        let (line, _) = signer.line("kw", 1, &e.hash, "t".into()).unwrap();
        text.push('\n');
        text.push_str(&String::from_utf8(line).unwrap());
        text.push('\n');
        std::fs::write(&path, text).unwrap();
        let got: Vec<_> = tail(&[path], TailFilter::default()).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().request_id, "1");
    }

    #[test]
    fn render_is_one_line_with_control_characters_escaped() {
        let mut e = entry("1", "bot", Decision::Deny, "api.example");
        e.time = "2026-11-25T19:15:00.123Z".into();
        e.path = "/a\n\u{1b}[2Jb".into();
        e.status = Some(403);
        e.rule = Some("no-delete".into());
        e.reason = Some("method not allowed".into());
        assert_eq!(
            render(&e),
            "2026-11-25T19:15:00.123Z deny         bot GET https://api.example:443/a\\n\\u{1b}[2Jb \
             403 rule=no-delete reason=\"method not allowed\""
        );
        assert!(!render(&e).contains('\n'));
        e.mode = Mode::Learn;
        e.decision = Decision::Allow;
        e.path = "/a".into();
        e.rule = None;
        e.reason = None;
        e.would = Some(crate::audit::WouldRecord {
            decision: Decision::Deny,
            failed_condition: None,
            reason: "denied by rule `no-delete`".into(),
            rule: Some("no-delete".into()),
        });
        assert_eq!(
            render(&e),
            "2026-11-25T19:15:00.123Z allow(learn) bot GET https://api.example:443/a 403 \
             would=deny would_rule=no-delete"
        );
    }
}
