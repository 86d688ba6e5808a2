//! The source a declaration names, built: an environment variable, a file, a command, or an
//! OAuth 2.0 token endpoint (whose own client secret and refresh token are sources too), AWS
//! Secrets Manager or Vault (whose credentials are sources too).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::SecretSource;
use super::api_client::{ApiClient, UpstreamApi};
use super::aws_sm::AwsSmSource;
use super::oauth2::{ClientAuth, Grant, OAuth2Source, TokenClient, UpstreamEndpoint};
use super::source::{DEFAULT_EXEC_TTL, EnvSource, ExecSource, FileSource};
use super::vault::{AppRole, RoleIdText, VaultLogin, VaultSource};
use crate::policy::{CredentialSource, RoleId, VaultAuth};

/// The source `declared` names; `tokens` is the client token endpoints are reached with.
pub fn source(declared: &CredentialSource, tokens: &TokenClient) -> Box<dyn SecretSource> {
    match declared {
        CredentialSource::Env(name) => Box::new(EnvSource(name.clone())),
        CredentialSource::File(path) => Box::new(FileSource::new(PathBuf::from(path))),
        CredentialSource::Exec(argv) => Box::new(ExecSource::new(argv.clone(), DEFAULT_EXEC_TTL)),
        CredentialSource::OAuth2(o) => {
            let grant = Grant {
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.as_ref().map(|s| source(s, tokens)),
                refresh_token: o.refresh_token.as_ref().map(|s| source(s, tokens)),
                scope: o.scope.clone(),
                audience: o.audience.clone(),
                client_auth: if o.secret_in_body {
                    ClientAuth::Body
                } else {
                    ClientAuth::Basic
                },
            };
            let endpoint = UpstreamEndpoint {
                url: o.token_url.clone(),
                client: tokens.clone(),
            };
            Box::new(OAuth2Source::new(grant, Box::new(endpoint)))
        }
        CredentialSource::AwsSecretsManager(d) => {
            let keys = source(&d.credentials, tokens);
            let api = Box::new(UpstreamApi(tokens.clone()));
            Box::new(AwsSmSource::new((**d).clone(), keys, api))
        }
        CredentialSource::Vault(d) => {
            let api: Arc<dyn ApiClient> = Arc::new(UpstreamApi(tokens.clone()));
            let login = match &d.auth {
                VaultAuth::Token(token) => VaultLogin::Token(source(token, tokens)),
                VaultAuth::AppRole { role_id, secret_id } => VaultLogin::AppRole(AppRole {
                    address: d.address.to_string().trim_end_matches('/').to_owned(),
                    namespace: d.namespace.clone(),
                    role_id: match role_id {
                        RoleId::Text(text) => Box::new(RoleIdText(text.clone())),
                        RoleId::Source(s) => source(s, tokens),
                    },
                    secret_id: source(secret_id, tokens),
                    api: api.clone(),
                    token: Mutex::new(None),
                    logging_in: tokio::sync::Mutex::new(()),
                }),
            };
            Box::new(VaultSource::new((**d).clone(), login, api))
        }
    }
}

/// The environment variables `declared` reads, its OAuth 2.0 client secret's and refresh
/// token's included.
pub fn env_vars(declared: &CredentialSource) -> Vec<String> {
    match declared {
        CredentialSource::Env(name) => vec![name.clone()],
        CredentialSource::File(_) | CredentialSource::Exec(_) => Vec::new(),
        CredentialSource::OAuth2(o) => o
            .client_secret
            .iter()
            .chain(&o.refresh_token)
            .flat_map(env_vars)
            .collect(),
        CredentialSource::AwsSecretsManager(d) => env_vars(&d.credentials),
        CredentialSource::Vault(d) => match &d.auth {
            VaultAuth::Token(token) => env_vars(token),
            VaultAuth::AppRole { role_id, secret_id } => match role_id {
                RoleId::Source(r) => env_vars(r),
                RoleId::Text(_) => Vec::new(),
            }
            .into_iter()
            .chain(env_vars(secret_id))
            .collect(),
        },
    }
}
