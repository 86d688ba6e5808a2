//! Parsed `secrets:` and `agents:` declarations. Values are never read here: a source says
//! where a credential lives, and later work (credentials) resolves it.

use crate::policy::error::Pos;
use crate::policy::ids::{AgentId, SecretName};
use crate::policy::url_pattern::{HostPattern, PathPattern};

/// Where a credential's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialSource {
    /// `env:NAME`: an environment variable of the keyward process.
    Env(String),
    /// `file:PATH`: the contents of a file (trailing newline trimmed by the resolver).
    File(String),
    /// An argv list (or `{exec: [argv]}`): the command's standard output.
    Exec(Vec<String>),
    /// `oauth2:` on a secret: access tokens from a token endpoint (never an agent's token).
    OAuth2(Box<OAuth2Decl>),
    /// `{aws_secrets_manager: {…}}`: a secret read from AWS Secrets Manager.
    AwsSecretsManager(Box<AwsSmDecl>),
    /// `{vault: {…}}`: a field of a HashiCorp Vault KV v2 secret.
    Vault(Box<VaultDecl>),
}

/// `aws_secrets_manager:` of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsSmDecl {
    /// The secret's name or ARN.
    pub secret_id: String,
    pub region: String,
    /// A key of the secret's JSON value to use instead of the whole value.
    pub field: Option<String>,
    /// The key pair GetSecretValue is signed with (another secret of kind aws's source).
    pub credentials: CredentialSource,
    /// The service's URL (`None`: `https://secretsmanager.REGION.amazonaws.com/`).
    pub endpoint: Option<http::Uri>,
    /// How long a value read is reused.
    pub ttl: std::time::Duration,
}

/// `vault:` of a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultDecl {
    /// The server (`https://vault:8200`).
    pub address: http::Uri,
    /// The KV v2 path as the API names it: `MOUNT/data/PATH`.
    pub path: String,
    /// The key of the secret's data whose value is used.
    pub field: String,
    pub auth: VaultAuth,
    /// `X-Vault-Namespace` (Vault Enterprise, OpenBao).
    pub namespace: Option<String>,
    /// How long a value read is reused (`None`: its lease, else five minutes).
    pub ttl: Option<std::time::Duration>,
}

/// How keyward authenticates to Vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultAuth {
    /// A client token read from a source.
    Token(CredentialSource),
    /// AppRole login with a role id (text or a source) and a secret id's source.
    AppRole {
        role_id: RoleId,
        secret_id: CredentialSource,
    },
}

/// An AppRole role id: not secret, so it may be written as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleId {
    Text(String),
    Source(CredentialSource),
}

/// `oauth2:` of a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuth2Decl {
    /// The token endpoint (`https:`).
    pub token_url: http::Uri,
    pub client_id: String,
    /// The client secret's source (`None`: a public client).
    pub client_secret: Option<CredentialSource>,
    /// The refresh token's source: the refresh-token grant; `None`: client credentials.
    pub refresh_token: Option<CredentialSource>,
    pub scope: Option<String>,
    /// `audience` some identity providers ask for beside `scope`.
    pub audience: Option<String>,
    /// `client_auth: body` sends the client's id and secret in the form instead of
    /// `Authorization: Basic`.
    pub secret_in_body: bool,
}

/// What a secret is, which says how it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SecretKind {
    /// A value sent as it is in place of its placeholder (a token, a password).
    #[default]
    Token,
    /// An AWS key pair (and session token): requests signed with the placeholder pair are
    /// checked and signed again with the real one (SigV4).
    Aws,
}

/// One entry of `secrets:`.
#[derive(Clone, Debug)]
pub struct SecretDecl {
    /// The secret's name, used by `inject:` and `{{name}}` templates.
    pub name: SecretName,
    /// `kind:`.
    pub kind: SecretKind,
    /// Where its value lives.
    pub source: CredentialSource,
    /// What agents hold instead of the value (generated later when absent).
    pub placeholder: Option<String>,
    /// The environment variable `keyward run` sets to the placeholder.
    pub env: Option<String>,
    /// The only hosts the value may ever be sent to.
    pub hosts: Vec<HostPattern>,
    /// Methods it may be sent with (`None`: any).
    pub methods: Option<Vec<http::Method>>,
    /// Paths it may be sent to (`None`: any).
    pub paths: Option<Vec<PathPattern>>,
    /// Where it is declared.
    pub pos: Pos,
}

impl SecretDecl {
    /// May the value be sent to `host`?
    pub fn allows_host(&self, host: &HostPattern) -> bool {
        self.hosts.iter().any(|h| h.covers(host))
    }
}

/// One entry of `agents:`.
#[derive(Clone, Debug)]
pub struct AgentDecl {
    /// The agent's name, used by rules' `agents:`.
    pub name: AgentId,
    /// Where its proxy credential lives.
    pub token: CredentialSource,
    /// Where it is declared.
    pub pos: Pos,
}
