//! The source a declaration names, built: an environment variable, a file, a command, or an
//! OAuth 2.0 token endpoint (whose own client secret and refresh token are sources too).

use std::path::PathBuf;

use super::SecretSource;
use super::oauth2::{ClientAuth, Grant, OAuth2Source, TokenClient, UpstreamEndpoint};
use super::source::{DEFAULT_EXEC_TTL, EnvSource, ExecSource, FileSource};
use crate::policy::CredentialSource;

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
    }
}
