//! Agent identity: agents declared under `agents:` authenticate with standard proxy
//! credentials (`http://NAME:TOKEN@proxy`), checked in constant time; the identity then
//! holds for the connection and every request in its tunnel.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use subtle::ConstantTimeEq;

use crate::credentials::SecretSource;
use crate::credentials::oauth2::TokenClient;
use crate::policy::{AgentDecl, AgentId};

/// Why an agent was not admitted (answered with 407). Never contains a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("proxy authentication required: send Proxy-Authorization (http://AGENT:TOKEN@proxy)")]
    Missing,
    #[error("proxy credentials are malformed: expected Basic AGENT:TOKEN")]
    Malformed,
    #[error("unknown agent or wrong token")]
    Rejected,
}

/// Why redirected connections cannot be attributed to an agent (they carry no credentials,
/// so the operator names the agent they act for).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransparentAgentError {
    #[error(
        "agents are declared and must authenticate, but no transparent agent is named: \
         redirected connections carry no credentials; name the agent they act for with \
         --transparent-agent NAME (transparent_agent:)"
    )]
    Unnamed,
    #[error("transparent agent {0:?} is not declared under agents:")]
    Unknown(String),
}

/// The declared agents and where their tokens live.
#[derive(Debug, Default)]
pub struct AgentRegistry {
    agents: Vec<(AgentId, Box<dyn SecretSource>)>,
}

impl AgentRegistry {
    pub fn new(decls: &[AgentDecl]) -> Self {
        let agents = decls
            .iter()
            .map(|d| {
                // An agent's token is never obtained from a token endpoint.
                let source = super::declared::source(&d.token, &TokenClient::default());
                (d.name.clone(), source)
            })
            .collect();
        Self { agents }
    }

    /// The declared agents' names, in declaration order.
    pub fn names(&self) -> impl Iterator<Item = &AgentId> {
        self.agents.iter().map(|(name, _)| name)
    }

    /// Whether agents must authenticate (any agent declared).
    pub fn required(&self) -> bool {
        !self.agents.is_empty()
    }

    /// The agent named by a `Proxy-Authorization` header; `Ok(None)` when no agent is
    /// declared (then credentials are not required).
    pub async fn authenticate(
        &self,
        header: Option<&HeaderValue>,
    ) -> Result<Option<AgentId>, AuthError> {
        if !self.required() {
            return Ok(None);
        }
        let header = header.ok_or(AuthError::Missing)?;
        let encoded = header
            .as_bytes()
            .strip_prefix(b"Basic ")
            .or_else(|| header.as_bytes().strip_prefix(b"basic "))
            .ok_or(AuthError::Malformed)?;
        let decoded = zeroize::Zeroizing::new(
            STANDARD
                .decode(encoded.trim_ascii())
                .map_err(|_| AuthError::Malformed)?,
        );
        let colon = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or(AuthError::Malformed)?;
        let (name, token) = (&decoded[..colon], &decoded[colon + 1..]);
        let Some((id, source)) = self
            .agents
            .iter()
            .find(|(id, _)| id.as_str().as_bytes() == name)
        else {
            return Err(AuthError::Rejected);
        };
        let expected = source.resolve().await.map_err(|error| {
            tracing::error!(agent = %id, %error, "agent token source does not resolve; refusing the agent");
            AuthError::Rejected
        })?;
        if bool::from(expected.expose().ct_eq(token)) {
            Ok(Some(id.clone()))
        } else {
            Err(AuthError::Rejected)
        }
    }
}

impl AgentRegistry {
    /// The agent redirected (transparent) connections are attributed to: `name` when it is
    /// declared, nobody when no agent is declared and none is named; otherwise an error
    /// (fail closed: an undeclared name, or declared agents and no name).
    pub fn transparent_agent(
        &self,
        name: Option<&str>,
    ) -> Result<Option<AgentId>, TransparentAgentError> {
        match name {
            Some(n) => self
                .agents
                .iter()
                .find(|(id, _)| id.as_str() == n)
                .map(|(id, _)| Some(id.clone()))
                .ok_or_else(|| TransparentAgentError::Unknown(n.to_owned())),
            None if self.required() => Err(TransparentAgentError::Unnamed),
            None => Ok(None),
        }
    }

    /// The credentials an agent launched by keyward uses: the agent named `name`, or the only
    /// declared one; `None` when no agent is declared.
    pub async fn credentials_for(
        &self,
        name: Option<&str>,
    ) -> Result<Option<(AgentId, crate::secret::SecretValue)>, String> {
        let chosen = match name {
            Some(n) => self
                .agents
                .iter()
                .find(|(id, _)| id.as_str() == n)
                .ok_or_else(|| format!("no agent named {n} is declared"))?,
            None => match self.agents.as_slice() {
                [] => return Ok(None),
                [only] => only,
                _ => return Err("several agents are declared: choose one with --agent NAME".into()),
            },
        };
        let token = chosen
            .1
            .resolve()
            .await
            .map_err(|e| format!("agent {}: {e}", chosen.0))?;
        Ok(Some((chosen.0.clone(), token)))
    }
}

/// `http://host:port` with the agent's credentials as userinfo (percent-encoded).
pub fn proxy_url_with_credentials(
    url: &str,
    agent: &AgentId,
    token: &crate::secret::SecretValue,
) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    /// Everything but RFC 3986 unreserved characters is escaped in userinfo.
    const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let user = utf8_percent_encode(agent.as_str(), USERINFO);
    let pass = utf8_percent_encode(&String::from_utf8_lossy(token.expose()), USERINFO).to_string();
    format!("{scheme}://{user}:{pass}@{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::source::{EnvSource, FileSource};

    #[tokio::test]
    async fn basic_credentials_name_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "s3cret-token\n").unwrap();
        let registry = AgentRegistry {
            agents: vec![(AgentId::new("triage-bot"), Box::new(FileSource::new(token)))],
        };
        let header =
            |s: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(s))).unwrap();
        assert_eq!(
            registry
                .authenticate(Some(&header("triage-bot:s3cret-token")))
                .await,
            Ok(Some(AgentId::new("triage-bot")))
        );
        assert_eq!(
            registry
                .authenticate(Some(&header("triage-bot:wrong")))
                .await,
            Err(AuthError::Rejected)
        );
        assert_eq!(
            registry
                .authenticate(Some(&header("other:s3cret-token")))
                .await,
            Err(AuthError::Rejected)
        );
        assert_eq!(registry.authenticate(None).await, Err(AuthError::Missing));
        assert_eq!(
            registry
                .authenticate(Some(&HeaderValue::from_static("Bearer x")))
                .await,
            Err(AuthError::Malformed)
        );
        assert!(
            AgentRegistry::default()
                .authenticate(None)
                .await
                .unwrap()
                .is_none()
        );
        for near in ["s3cret-toke", "s3cret-tokenx", "s3cret-tokeN", ""] {
            assert_eq!(
                registry
                    .authenticate(Some(&header(&format!("triage-bot:{near}"))))
                    .await,
                Err(AuthError::Rejected),
                "{near:?}"
            );
        }
    }

    #[test]
    fn the_transparent_agent_must_be_declared_when_agents_are() {
        let registry = AgentRegistry {
            agents: vec![(
                AgentId::new("triage-bot"),
                Box::new(EnvSource("UNUSED".into())),
            )],
        };
        assert_eq!(
            registry.transparent_agent(Some("triage-bot")),
            Ok(Some(AgentId::new("triage-bot")))
        );
        assert_eq!(
            registry.transparent_agent(Some("other")),
            Err(TransparentAgentError::Unknown("other".into()))
        );
        assert_eq!(
            registry.transparent_agent(None),
            Err(TransparentAgentError::Unnamed)
        );
        let none = AgentRegistry::default();
        assert_eq!(none.transparent_agent(None), Ok(None));
        assert!(none.transparent_agent(Some("triage-bot")).is_err());
    }
}
