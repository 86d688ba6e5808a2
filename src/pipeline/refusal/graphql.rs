//! A policy denial of GraphQL operations, answered as GraphQL: HTTP 403 with a body of
//! `{"errors": [{"message": "keyward: …", "extensions": {"code": "KEYWARD_DENIED", …}}]}`,
//! so GraphQL clients show the denial as an error of the operation. A batch is answered
//! with an array of such responses, one per element: the denied elements name their
//! reason, the others say they were not forwarded because of the denied one. A request
//! over its rule's rate limit gets the same shape with 429 and `KEYWARD_RATE_LIMITED`.

use serde::Serialize;

use crate::pipeline::exchange::RequestId;
use crate::policy::{GraphqlDecision, RuleId, Verdict};

/// The `extensions.code` of a keyward denial.
pub const GRAPHQL_DENIED_CODE: &str = "KEYWARD_DENIED";

/// A denial of a GraphQL request, whole: the deciding rule and reason, and every operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlDenial {
    /// The rule that denied the request (for a batch, the denied element's).
    pub rule: Option<RuleId>,
    /// The request's reason (for a batch, naming the denied element).
    pub reason: String,
    /// The operations and how each was decided.
    pub ops: GraphqlDecision,
}

/// One GraphQL response: its `errors` only (nothing ran).
#[derive(Serialize)]
struct Response<'a> {
    errors: [Error<'a>; 1],
}

/// One error of a response.
#[derive(Serialize)]
struct Error<'a> {
    message: String,
    extensions: Extensions<'a>,
}

/// What keyward adds to the error, the same facts as its 403 body.
#[derive(Serialize)]
struct Extensions<'a> {
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule: Option<&'a RuleId>,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    element: Option<usize>,
    request_id: &'a str,
}

impl GraphqlDenial {
    /// The GraphQL answer: one response, or one per element of a batch.
    pub fn body(&self, request_id: &RequestId) -> Vec<u8> {
        let json = if self.ops.batch {
            let deciding = self.ops.deciding_op().map_or(0, |d| d.op.index);
            let all: Vec<Response<'_>> = self
                .ops
                .ops
                .iter()
                .map(|d| {
                    let (rule, reason) = if d.verdict == Verdict::Deny {
                        (d.rule.as_ref(), d.reason.clone())
                    } else {
                        (
                            self.rule.as_ref(),
                            format!("not forwarded: batch element {deciding} was denied"),
                        )
                    };
                    response(rule, reason, Some(d.op.index), request_id)
                })
                .collect();
            serde_json::to_vec(&all)
        } else {
            serde_json::to_vec(&response(
                self.rule.as_ref(),
                self.reason.clone(),
                None,
                request_id,
            ))
        };
        json.unwrap_or_else(|_| {
            br#"{"errors":[{"message":"keyward denied the request","extensions":{"code":"KEYWARD_DENIED"}}]}"#.to_vec()
        })
    }
}

/// The `extensions.code` of a GraphQL request over its rule's rate limit.
pub const GRAPHQL_RATE_LIMITED_CODE: &str = "KEYWARD_RATE_LIMITED";

/// The GraphQL answer to a request over `rule`'s rate limit (sent with 429).
pub fn rate_limited_body(rule: &RuleId, request_id: &RequestId) -> Vec<u8> {
    let mut answer = response(
        Some(rule),
        "rate limit exceeded".to_owned(),
        None,
        request_id,
    );
    for error in &mut answer.errors {
        error.extensions.code = GRAPHQL_RATE_LIMITED_CODE;
    }
    serde_json::to_vec(&answer).unwrap_or_else(|_| {
        br#"{"errors":[{"message":"keyward: rate limit exceeded","extensions":{"code":"KEYWARD_RATE_LIMITED"}}]}"#.to_vec()
    })
}

/// One response naming `rule` and `reason`.
fn response<'a>(
    rule: Option<&'a RuleId>,
    reason: String,
    element: Option<usize>,
    request_id: &'a RequestId,
) -> Response<'a> {
    let message = match rule {
        Some(r) if !reason.contains(&format!("`{r}`")) => format!("keyward: {reason} (rule `{r}`)"),
        _ => format!("keyward: {reason}"),
    };
    Response {
        errors: [Error {
            message,
            extensions: Extensions {
                code: GRAPHQL_DENIED_CODE,
                rule,
                reason,
                element,
                request_id: request_id.as_str(),
            },
        }],
    }
}

#[cfg(test)]
mod tests;
