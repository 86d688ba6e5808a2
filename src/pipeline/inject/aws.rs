//! The allowing rule's `aws` secrets: a request signed with one's placeholder key pair is
//! checked with it and signed again with the real key pair (SigV4). A signature that does
//! not check out is refused as an exfiltration attempt, nothing forwarded.

use http::request::Parts;

use super::Destination;
use crate::credentials::sigv4::{self, AwsRequest, Body, Resigned, SigV4Error};
use crate::credentials::{CredentialStore, InjectError, Injected, SecretName};
use crate::pipeline::exchange::Exchange;
use crate::pipeline::read_body::AgentBody;
use crate::pipeline::refusal::{Denial, Refusal};
use crate::policy::RuleId;

/// Why an `aws` secret could not sign the request.
pub enum AwsRefusal {
    /// Its source failed or holds no key pair (503).
    Keys(InjectError),
    /// The request's signature or its form.
    Signature {
        secret: SecretName,
        error: SigV4Error,
    },
}

impl AwsRefusal {
    /// The refusal the agent gets.
    pub fn refusal(self, rule: Option<RuleId>) -> Refusal {
        match self {
            AwsRefusal::Keys(e) => e.into(),
            AwsRefusal::Signature { secret, error } => Refusal::Denied {
                rule,
                reason: Denial::AwsSignature { secret, error },
            },
        }
    }
}

/// Signs the request again for each of `names` whose placeholder key id signed it; the
/// secrets used, with their real values (for the response scrubber).
pub async fn resign(
    store: &CredentialStore,
    exchange: &mut Exchange,
    names: &[SecretName],
    parts: &mut Parts,
    target: Destination<'_>,
    body_mut: &mut AgentBody,
) -> Result<Injected, AwsRefusal> {
    let mut injected = Injected::default();
    for name in names {
        let Some(cred) = store.get(name) else {
            return Err(AwsRefusal::Keys(InjectError::Unknown(name.clone())));
        };
        let Some(placeholders) = &cred.aws else {
            continue;
        };
        if cred.scope.check(&parts.method, target.segments).is_err() {
            // Left signed with the placeholder: the exfiltration guard refuses it.
            continue;
        }
        let keys = CredentialStore::aws_keys(cred).await.map_err(|source| {
            AwsRefusal::Keys(InjectError::Source {
                name: name.clone(),
                source,
            })
        })?;
        let body_view = match &*body_mut {
            AgentBody::Read { read, sent } if read.is_partial() => Body::Partial(sent.len()),
            AgentBody::Read { sent, .. } => Body::Complete(sent),
            AgentBody::Unread(_) | AgentBody::Empty => Body::Complete(&[]),
        };
        // HTTP/2 carries the signed `host` as the request's authority (with its port).
        let authority = parts
            .uri
            .authority()
            .map_or_else(|| target.host.to_owned(), |a| a.as_str().to_owned());
        let request = AwsRequest {
            parts: &mut *parts,
            body: body_view,
            authority: &authority,
        };
        match sigv4::resign(request, placeholders, &keys) {
            Ok(Resigned::NotOurs) => {}
            Ok(Resigned::Signed { body: new_body }) => {
                if let (Some(new_body), Some(sent)) = (new_body, body_mut.sent_mut()) {
                    *sent = bytes::Bytes::from(new_body);
                }
                injected.names.push(name.clone());
                injected.values.push(keys.access_key_id.clone());
                injected.values.push(keys.secret_access_key.clone());
                injected.values.extend(keys.session_token.clone());
            }
            Err(error) => {
                if error.is_bad_signature() {
                    exchange.exfiltration = true;
                    tracing::warn!(
                        request_id = exchange.id.as_str(),
                        secret = name.as_str(),
                        %error,
                        "AWS request with a bad placeholder signature refused"
                    );
                }
                return Err(AwsRefusal::Signature {
                    secret: name.clone(),
                    error,
                });
            }
        }
    }
    Ok(injected)
}
