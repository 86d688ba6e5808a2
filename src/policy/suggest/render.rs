//! The text of a drafted rule file: a header saying where it came from, then per host a
//! comment block (a `secrets:` entry suggested when requests carried credentials) and its
//! rules, each with what was seen of it as comments, then `tests:`. Strings are written
//! as JSON strings (valid YAML double-quoted scalars); comments are single lines.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::shape::pattern;
use super::{Endpoint, Filter};
use crate::policy::Verdict;

/// Longest text from the log (a name) copied into a comment.
const MAX_COMMENT_CHARS: usize = 160;

/// One `tests:` entry of the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// `METHOD URL`.
    pub request: String,
    pub expect: Verdict,
    /// The rule that must decide, when only one rule matches.
    pub rule: Option<String>,
}

/// What the draft says, before it is written out.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Where the entries came from.
    source: String,
    /// The agent they were limited to.
    agent: Option<String>,
    /// How many recorded requests the draft covers.
    requests: usize,
    endpoints: Vec<Endpoint>,
    /// Recorded requests, expected allowed.
    pub tests: Vec<Test>,
    /// Requests the draft must deny.
    pub deny_tests: Vec<Test>,
}

impl Plan {
    pub fn new(filter: &Filter, endpoints: &[Endpoint], requests: usize) -> Plan {
        Plan {
            source: filter.source.clone(),
            agent: filter.agent.clone(),
            requests,
            endpoints: endpoints.to_vec(),
            tests: Vec::new(),
            deny_tests: Vec::new(),
        }
    }

    /// The rule file.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        out.push_str("rules:\n");
        let mut host = None;
        for ep in &self.endpoints {
            let this = (ep.scheme.as_str(), ep.host.as_str(), ep.port);
            if host != Some(this) {
                host = Some(this);
                self.host_comment(&mut out, this);
            }
            rule(&mut out, ep);
        }
        out.push_str("\ntests:\n");
        for test in self.tests.iter().chain(&self.deny_tests) {
            let _ = writeln!(out, "  - request: {}", quote(&test.request));
            let _ = writeln!(out, "    expect: {}", test.expect);
            if let Some(rule) = &test.rule {
                let _ = writeln!(out, "    rule: {rule}");
            }
        }
        out
    }

    fn header(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# Drafted by `keyward rules suggest` from {} ({} recorded requests{}).",
            comment(&self.source),
            self.requests,
            self.agent
                .as_ref()
                .map(|a| format!(" of agent {}", comment(a)))
                .unwrap_or_default()
        );
        out.push_str(
            "# Each rule allows one host, method and path shape that was seen; ids, hashes and\n\
             # tokens in paths became {captures}. Review before use: narrow the captures\n\
             # (`captures:`), check bodies (`body.json:`) and query parameters (`query:`), and\n\
             # keep credentials out of the agent (`secrets:` + `inject:`).\n",
        );
        if self.agent.is_some() {
            out.push_str(
                "# To keep these rules to that agent, declare it under `agents:` and add\n\
                 # `agents: [NAME]` to each rule.\n",
            );
        }
        out.push('\n');
    }

    /// The comment opening a host's rules; a suggested secret when credentials were seen.
    fn host_comment(&self, out: &mut String, (scheme, host, port): (&str, &str, u16)) {
        let auth: BTreeSet<&str> = self
            .endpoints
            .iter()
            .filter(|ep| (ep.scheme.as_str(), ep.host.as_str(), ep.port) == (scheme, host, port))
            .flat_map(|ep| ep.auth.iter().map(String::as_str))
            .collect();
        let _ = writeln!(out, "\n  # {}", comment(&url(scheme, host, port, "")));
        if auth.is_empty() {
            return;
        }
        let name: String = host
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let var = name.to_ascii_uppercase().replace('-', "_");
        let fields = auth.into_iter().collect::<Vec<_>>().join(", ");
        let lines = [
            format!("The agent sent credentials here ({fields}; their values are not recorded)."),
            "Let keyward hold them instead: give the agent a placeholder and declare".to_owned(),
            "  secrets:".to_owned(),
            format!("    {name}:"),
            format!("      from: env:{var}_TOKEN"),
            format!("      env: {var}_TOKEN"),
            format!("      hosts: [{host}]"),
            format!("then add `inject: [{name}]` to the rules below."),
        ];
        for line in lines {
            let _ = writeln!(out, "  # {}", comment(&line));
        }
    }
}

/// One rule, with what was seen of it as comments.
fn rule(out: &mut String, ep: &Endpoint) {
    let _ = writeln!(out, "  - id: {}", ep.id);
    let times = if ep.count == 1 { "once" } else { "times" };
    let count = if ep.count == 1 {
        String::new()
    } else {
        format!("{} ", ep.count)
    };
    let _ = writeln!(out, "    # seen {count}{times}");
    list(out, "query parameters", &ep.query);
    list(out, "JSON body fields", &ep.json_fields);
    // Only the rule is named: a reason can quote a value the request carried.
    for rule in &ep.denied_by {
        let by = rule.as_ref().map_or("the default deny".to_owned(), |r| {
            format!("rule `{}`", comment(r))
        });
        let _ = writeln!(out, "    # the rules in force deny this ({by})");
    }
    for rule in &ep.held_by {
        let _ = writeln!(
            out,
            "    # the rules in force hold this for approval (rule `{}`): consider `decision: approve`",
            comment(rule)
        );
    }
    let _ = writeln!(out, "    method: {}", quote(&ep.method));
    let _ = writeln!(
        out,
        "    url: {}",
        quote(&url(&ep.scheme, &ep.host, ep.port, &pattern(&ep.segs)))
    );
    out.push_str("    decision: allow\n");
}

/// A comment listing `names`, when there are any.
fn list(out: &mut String, what: &str, names: &BTreeSet<String>) {
    if names.is_empty() {
        return;
    }
    let names: Vec<String> = names.iter().map(|n| comment(n)).collect();
    let _ = writeln!(out, "    # {what} seen: {}", names.join(", "));
}

/// `scheme://host[:port]path`, the port left out when it is the scheme's default.
pub fn url(scheme: &str, host: &str, port: u16, path: &str) -> String {
    let default = matches!((scheme, port), ("https", 443) | ("http", 80));
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if default {
        format!("{scheme}://{host}{path}")
    } else {
        format!("{scheme}://{host}:{port}{path}")
    }
}

/// A YAML double-quoted scalar (a JSON string is one).
fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Text from the log made safe for one comment line: control characters become spaces,
/// and it is cut at [`MAX_COMMENT_CHARS`].
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_COMMENT_CHARS)
        .collect()
}
