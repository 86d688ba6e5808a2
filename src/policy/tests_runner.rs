//! Runs the `tests:` entries of the rule files (`keyward test`): each request is decided
//! exactly as the proxy would (body read only when a rule needs it, cut at `max_size`).

use std::fmt;

use crate::policy::decision::{Decision, Verdict};
use crate::policy::error::Pos;
use crate::policy::explain::explain;
use crate::policy::ids::{AgentId, RuleId};
use crate::policy::ruleset::RuleSet;
use crate::policy::sample::SampleRequest;

/// One `tests:` entry.
#[derive(Clone, Debug)]
pub struct RuleTest {
    /// Where the entry's `request:` is written.
    pub pos: Pos,
    /// The request line as written.
    pub text: String,
    /// The request to decide.
    pub request: SampleRequest,
    /// The agent sending it (`None`: unauthenticated).
    pub agent: Option<AgentId>,
    /// The expected verdict.
    pub expect: Verdict,
    /// The expected deciding rule, when given.
    pub rule: Option<RuleId>,
}

/// The result of one test.
#[derive(Clone, Debug)]
pub struct TestOutcome<'a> {
    /// The test.
    pub test: &'a RuleTest,
    /// What the engine decided.
    pub decision: Decision,
    /// `None` when the test passed, else what differed.
    pub failure: Option<String>,
}

/// The results of every test, in file order.
#[derive(Clone, Debug)]
pub struct TestReport<'a> {
    /// One outcome per test.
    pub outcomes: Vec<TestOutcome<'a>>,
}

impl TestReport<'_> {
    /// How many tests failed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| o.failure.is_some()).count()
    }

    /// True when every test passed.
    pub fn all_passed(&self) -> bool {
        self.failed() == 0
    }
}

impl fmt::Display for TestReport<'_> {
    /// Each failure with its position and explanation, then `N passed, M failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for outcome in &self.outcomes {
            if let Some(failure) = &outcome.failure {
                writeln!(f, "{}: {}: {failure}", outcome.test.pos, outcome.test.text)?;
                for line in explain(&outcome.decision).lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        let failed = self.failed();
        write!(
            f,
            "{} passed, {failed} failed",
            self.outcomes.len() - failed
        )
    }
}

impl RuleSet {
    /// Decides a sample request as the proxy would, keeping the trace.
    pub fn decide_sample(&self, request: &SampleRequest, agent: Option<&AgentId>) -> Decision {
        let head = request.head();
        match self.body_need(&head, agent) {
            crate::policy::BodyNeed::None => self.decide_traced(&head, None, agent),
            crate::policy::BodyNeed::Inspect { max_size } => {
                let body = request.body_view(max_size);
                self.decide_traced(&head, Some(&body), agent)
            }
        }
    }

    /// Runs every `tests:` entry.
    pub fn run_tests(&self) -> TestReport<'_> {
        let outcomes = self
            .tests()
            .iter()
            .map(|test| {
                let decision = self.decide_sample(&test.request, test.agent.as_ref());
                let failure = check(test, &decision);
                TestOutcome {
                    test,
                    decision,
                    failure,
                }
            })
            .collect();
        TestReport { outcomes }
    }
}

/// Compares a decision with a test's expectation.
fn check(test: &RuleTest, decision: &Decision) -> Option<String> {
    let show = |rule: Option<&RuleId>| {
        rule.map_or_else(|| "no rule".to_owned(), |r| format!("rule `{r}`"))
    };
    if decision.verdict != test.expect {
        return Some(format!(
            "expected {}, got {} by {}",
            test.expect,
            decision.verdict,
            show(decision.rule.as_ref())
        ));
    }
    match &test.rule {
        Some(expected) if decision.rule.as_ref() != Some(expected) => Some(format!(
            "expected {} by rule `{expected}`, got it by {}",
            test.expect,
            show(decision.rule.as_ref())
        )),
        _ => None,
    }
}
