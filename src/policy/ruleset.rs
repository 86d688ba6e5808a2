//! [`RuleSet`]: the compiled, immutable rules the proxy shares (in an `Arc`) and asks.

use std::fmt;
use std::path::Path;

use crate::policy::compile::{self, Compiled, Source};
use crate::policy::decision::Decision;
use crate::policy::decls::{AgentDecl, SecretDecl};
use crate::policy::engine;
use crate::policy::error::{CompileError, CompileErrors, Pos};
use crate::policy::ids::{AgentId, RuleId};
use crate::policy::index::HostIndex;
use crate::policy::normalize::{NormalizedTarget, normalize_host};
use crate::policy::request::{BodyNeed, RequestBody, RequestHead};
use crate::policy::rule::{PatternSet, Rule};
use crate::policy::spelling::AmbiguousPath;
use crate::policy::tests_runner::RuleTest;

/// Compiled rules with their host index and declarations. `Send + Sync`, immutable.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Every rule, in file order (files sorted by path), `--allow` rules last.
    pub(crate) rules: Vec<Rule>,
    /// Rules by host.
    pub(crate) index: HostIndex,
    /// `patterns:` sets.
    pub(crate) patterns: Vec<PatternSet>,
    /// `secrets:` declarations.
    pub(crate) secrets: Vec<SecretDecl>,
    /// `agents:` declarations.
    pub(crate) agents: Vec<AgentDecl>,
    /// `tests:` entries.
    pub(crate) tests: Vec<RuleTest>,
    /// `actions:` entries, in file order.
    pub(crate) actions: Vec<crate::actions::Action>,
}

/// Counts for `keyward check`'s one-line summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Rules.
    pub rules: usize,
    /// Distinct host patterns named by rules.
    pub hosts: usize,
    /// Declared secrets.
    pub secrets: usize,
    /// Declared agents.
    pub agents: usize,
    /// Pattern sets.
    pub patterns: usize,
    /// `tests:` entries.
    pub tests: usize,
    /// `actions:` entries (shown only when there are some).
    pub actions: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rules, {} hosts, {} secrets, {} agents, {} pattern sets, {} tests",
            self.rules, self.hosts, self.secrets, self.agents, self.patterns, self.tests
        )?;
        if self.actions > 0 {
            write!(f, ", {} actions", self.actions)?;
        }
        Ok(())
    }
}

impl RuleSet {
    /// Loads every `*.yaml` / `*.yml` file of `dir` (sorted by name), or `dir` alone when it
    /// is a file, and compiles them together.
    pub fn load_dir(dir: &Path) -> Result<RuleSet, CompileErrors> {
        let unreadable = |path: &Path, e: &dyn fmt::Display| {
            CompileErrors(vec![CompileError {
                pos: Pos {
                    file: path.to_path_buf(),
                    line: 0,
                    column: 0,
                },
                message: format!("cannot read: {e}"),
            }])
        };
        let mut paths = Vec::new();
        // One file given: checked on its own (`keyward check rules/github.yaml`).
        let entries = if dir.is_file() {
            paths.push(dir.to_path_buf());
            None
        } else {
            Some(std::fs::read_dir(dir).map_err(|e| unreadable(dir, &e))?)
        };
        for entry in entries.into_iter().flatten() {
            let path = entry.map_err(|e| unreadable(dir, &e))?.path();
            let is_yaml = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml");
            if is_yaml && path.is_file() {
                paths.push(path);
            }
        }
        paths.sort();
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push(Source { path, text }),
                Err(e) => errors.extend(unreadable(&path, &e).0),
            }
        }
        match RuleSet::compile(&sources) {
            Err(CompileErrors(mut more)) => {
                errors.append(&mut more);
                Err(CompileErrors(errors))
            }
            Ok(_) if !errors.is_empty() => Err(CompileErrors(errors)),
            Ok(set) => Ok(set),
        }
    }

    /// Compiles rule files given as text.
    pub fn compile(sources: &[Source]) -> Result<RuleSet, CompileErrors> {
        let Compiled {
            rules,
            patterns,
            secrets,
            agents,
            tests,
            actions,
        } = compile::compile(sources)?;
        let index = HostIndex::build(&rules);
        Ok(RuleSet {
            rules,
            index,
            patterns,
            secrets,
            agents,
            tests,
            actions,
        })
    }

    /// Could any rule (any decision or mode) match requests to `host:port` from `agent`?
    /// `false`: the proxy refuses the CONNECT before the TLS handshake.
    pub fn admits_connect(&self, host: &str, port: u16, agent: Option<&AgentId>) -> bool {
        self.rules_for(host, agent)
            .any(|rule| rule.url.matches_port(None, port))
    }

    /// Could any rule (any decision or mode) match requests to `host`, on any port, from
    /// `agent`? `false`: the jail's DNS answers NXDOMAIN for the name.
    pub fn admits_host(&self, host: &str, agent: Option<&AgentId>) -> bool {
        self.rules_for(host, agent).next().is_some()
    }

    /// The rules whose host pattern could match `host` and that apply to `agent`; none for a
    /// host that does not normalise.
    fn rules_for<'a>(
        &'a self,
        host: &str,
        agent: Option<&'a AgentId>,
    ) -> impl Iterator<Item = &'a Rule> + 'a {
        let candidates = normalize_host(host)
            .map(|host| self.index.candidates(&host))
            .unwrap_or_default();
        candidates
            .into_iter()
            .filter_map(|i| self.rules.get(i))
            .filter(move |rule| rule.applies_to(agent))
    }

    /// The `allow_private:` ranges of every rule that could match requests to `host:port`
    /// from `agent`: what a CONNECT to a private IP literal might be allowed to reach.
    pub fn connect_allow_private(
        &self,
        host: &str,
        port: u16,
        agent: Option<&AgentId>,
    ) -> Vec<ipnet::IpNet> {
        self.rules_for(host, agent)
            .filter(|rule| rule.url.matches_port(None, port))
            .flat_map(|rule| rule.allow_private.iter().copied())
            .collect()
    }

    /// Refuses a normalised target whose path spelling servers read differently (`//`, `;`)
    /// unless a rule of its host admits it (the proxy answers 400). [`RuleSet::decide`]
    /// denies the same targets.
    pub fn check_spellings(&self, target: &NormalizedTarget) -> Result<(), AmbiguousPath> {
        engine::check_spellings(
            &self.rules,
            self.index.candidates(&target.host).as_slice(),
            target,
        )
    }

    /// Must the proxy read the body before deciding, and how much of it?
    pub fn body_need(&self, head: &RequestHead<'_>, agent: Option<&AgentId>) -> BodyNeed {
        engine::body_need(&self.rules, &self.index, head, agent)
    }

    /// Decides a request. Pure: no I/O, never panics; unreadable inputs deny with a reason.
    /// The decision's `trace` is left empty (see [`RuleSet::decide_traced`]).
    pub fn decide(
        &self,
        head: &RequestHead<'_>,
        body: Option<&RequestBody<'_>>,
        agent: Option<&AgentId>,
    ) -> Decision {
        engine::decide(&self.rules, &self.index, head, body, agent, false)
    }

    /// Must the proxy read the body before deciding, for a target already normalised?
    pub fn body_need_normalized(
        &self,
        target: &NormalizedTarget,
        head: &RequestHead<'_>,
        agent: Option<&AgentId>,
    ) -> BodyNeed {
        engine::body_need_normalized(&self.rules, &self.index, target, head, agent)
    }

    /// Whether an approve rule selects this request (method, URL and agent), for a target
    /// already normalised.
    pub fn approval_possible(
        &self,
        target: &NormalizedTarget,
        head: &RequestHead<'_>,
        agent: Option<&AgentId>,
    ) -> bool {
        engine::approval_possible(&self.rules, &self.index, target, head, agent)
    }

    /// Whether a rule with `mcp:` could select calls of this request (its method, URL and
    /// agent match), for a target already normalised.
    pub fn mcp_rule_matches(
        &self,
        target: &NormalizedTarget,
        head: &RequestHead<'_>,
        agent: Option<&AgentId>,
    ) -> bool {
        engine::mcp_rule_matches(&self.rules, &self.index, target, head, agent)
    }

    /// Whether the target's host has a rule with `mcp:` for `agent`, on any path.
    pub fn host_has_mcp_rules(&self, target: &NormalizedTarget, agent: Option<&AgentId>) -> bool {
        engine::host_has_mcp_rules(&self.rules, &self.index, target, agent)
    }

    /// [`RuleSet::decide`] for a target the caller normalised once and whose spelling it
    /// checked with [`RuleSet::check_spellings`] (the pipeline does both before reading the
    /// body, so the engine does neither again).
    pub fn decide_normalized(
        &self,
        target: &NormalizedTarget,
        head: &RequestHead<'_>,
        body: Option<&RequestBody<'_>>,
        agent: Option<&AgentId>,
    ) -> Decision {
        let request = engine::Request {
            target,
            head,
            body,
            agent,
        };
        engine::decide_normalized(&self.rules, &self.index, &request, false)
    }

    /// [`RuleSet::decide`], also recording every selector and condition it evaluated in the
    /// decision's `trace` (for `keyward explain` and `keyward test`).
    pub fn decide_traced(
        &self,
        head: &RequestHead<'_>,
        body: Option<&RequestBody<'_>>,
        agent: Option<&AgentId>,
    ) -> Decision {
        engine::decide(&self.rules, &self.index, head, body, agent, true)
    }

    /// Counts of what was compiled.
    pub fn summary(&self) -> Summary {
        Summary {
            rules: self.rules.len(),
            hosts: self.index.host_count(),
            secrets: self.secrets.len(),
            agents: self.agents.len(),
            patterns: self.patterns.len(),
            tests: self.tests.len(),
            actions: self.actions.len(),
        }
    }

    /// The `tests:` entries.
    pub fn tests(&self) -> &[RuleTest] {
        &self.tests
    }

    /// The `secrets:` declarations (values not resolved).
    pub fn secrets(&self) -> &[SecretDecl] {
        &self.secrets
    }

    /// The `agents:` declarations (tokens not resolved).
    pub fn agents(&self) -> &[AgentDecl] {
        &self.agents
    }

    /// The `patterns:` sets.
    pub fn patterns(&self) -> &[PatternSet] {
        &self.patterns
    }

    /// Every rule, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The `actions:` entries, in file order.
    pub fn actions(&self) -> &[crate::actions::Action] {
        &self.actions
    }

    /// The action with this name.
    pub fn action(&self, name: &str) -> Option<&crate::actions::Action> {
        self.actions.iter().find(|a| a.name() == name)
    }

    /// The rule with this id (e.g. the one a decision names, for its `set_headers`).
    pub fn rule(&self, id: &RuleId) -> Option<&Rule> {
        self.rules.iter().find(|r| &r.id == id)
    }
}

#[cfg(test)]
mod tests;
