//! GraphQL-shaped refusals: a single denial, a batch answered element by element, and a
//! rate limit, each with its status and `extensions`.

use serde_json::Value;

use crate::pipeline::exchange::RequestId;
use crate::pipeline::refusal::{GraphqlDenial, Refusal};
use crate::policy::graphql::{GraphqlDecision, GraphqlOp, GraphqlOpDecision};
use crate::policy::{RuleId, Verdict};

fn op_decision(index: usize, verdict: Verdict, rule: &str, reason: &str) -> GraphqlOpDecision {
    GraphqlOpDecision {
        op: GraphqlOp {
            index,
            operation: None,
            variables: None,
            persisted: None,
        },
        verdict,
        rule: Some(RuleId::new(rule.to_owned())),
        reason: reason.to_owned(),
    }
}

fn body(refusal: &Refusal) -> (u16, Value) {
    let id = RequestId::new();
    let response = refusal.into_response(&id);
    let status = response.status().as_u16();
    (status, serde_json::from_slice(&refusal.json(&id)).unwrap())
}

#[test]
fn a_denial_is_one_graphql_response_naming_the_rule() {
    let refusal = Refusal::GraphqlDenied(GraphqlDenial {
        rule: Some(RuleId::new("q".to_owned())),
        reason: "invalid GraphQL document: expected R_CURLY, got EOF at byte 18".to_owned(),
        ops: GraphqlDecision {
            batch: false,
            ops: Vec::new(),
            deciding: 0,
        },
    });
    let (status, json) = body(&refusal);
    assert_eq!(status, 403);
    let error = &json["errors"][0];
    assert_eq!(
        error["message"],
        "keyward: invalid GraphQL document: expected R_CURLY, got EOF at byte 18 (rule `q`)"
    );
    assert_eq!(error["extensions"]["code"], "KEYWARD_DENIED");
    assert_eq!(error["extensions"]["rule"], "q");
}

#[test]
fn a_batch_denial_answers_every_element() {
    let refusal = Refusal::GraphqlDenied(GraphqlDenial {
        rule: Some(RuleId::new("no-delete".to_owned())),
        reason: "batch element 1 (...): denied by rule `no-delete`".to_owned(),
        ops: GraphqlDecision {
            batch: true,
            ops: vec![
                op_decision(0, Verdict::Allow, "queries", "allowed by rule `queries`"),
                op_decision(1, Verdict::Deny, "no-delete", "denied by rule `no-delete`"),
            ],
            deciding: 1,
        },
    });
    let (status, json) = body(&refusal);
    assert_eq!(status, 403);
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[0]["errors"][0]["message"],
        "keyward: not forwarded: batch element 1 was denied (rule `no-delete`)"
    );
    assert_eq!(
        all[1]["errors"][0]["message"],
        "keyward: denied by rule `no-delete`"
    );
    assert_eq!(all[1]["errors"][0]["extensions"]["element"], 1);
}

#[test]
fn a_rate_limit_is_a_graphql_error_with_429_and_retry_after() {
    let refusal = Refusal::GraphqlRateLimited {
        rule: RuleId::new("comment".to_owned()),
        retry_after: std::time::Duration::from_millis(1500),
        limit: crate::pipeline::refusal::Limited::Rate,
    };
    let id = RequestId::new();
    let response = refusal.into_response(&id);
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
    let (_, json) = body(&refusal);
    assert_eq!(
        json["errors"][0]["extensions"]["code"],
        "KEYWARD_RATE_LIMITED"
    );
    assert_eq!(
        json["errors"][0]["message"],
        "keyward: rate limit exceeded (rule `comment`)"
    );
}
