//! The environment an agent runs with so that it sends all HTTP(S) through keyward, trusts
//! keyward's CA, and holds placeholders instead of secrets. One computation, shared by
//! `keyward run` (which sets it on the command) and `keyward env` (which prints it).

mod bundle;
mod format;

use std::path::{Path, PathBuf};

pub use bundle::{BUNDLE_FILE, BundleError, write_bundle};
pub use format::{EnvFormat, FormatError, render};

use crate::credentials::CredentialStore;
use crate::policy::RuleSet;

/// Proxy variables: upper and lower case, since runtimes disagree on which they read
/// (curl ignores upper-case `HTTP_PROXY`, Go and Python read both).
const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Variables that *replace* a runtime's trust store: they get the combined bundle (system
/// roots plus keyward's CA), so hosts reached without keyward still verify.
const BUNDLE_VARS: [&str; 7] = [
    "SSL_CERT_FILE", // OpenSSL-based tools, Python ssl/urllib/httpx, Ruby, Go on Linux
    "REQUESTS_CA_BUNDLE", // Python requests (and pip, which vendors it)
    "CURL_CA_BUNDLE", // curl builds that read it, and requests as a fallback
    "PIP_CERT",      // pip
    "AWS_CA_BUNDLE", // AWS CLI and SDKs
    "GIT_SSL_CAINFO", // git over HTTPS
    "CARGO_HTTP_CAINFO", // cargo
];

/// Variables that *add* certificates to a runtime's store: they get keyward's CA alone.
const EXTRA_CA_VARS: [&str; 2] = [
    "NODE_EXTRA_CA_CERTS", // Node.js: added to its bundled roots
    "DENO_CERT",           // Deno: added to its roots
];

/// The variables, in a stable order, that make a command use the keyward at `proxy_url`:
/// proxies, `NO_PROXY` (empty unless `no_proxy` is given), trust stores, Node's switch for
/// proxied `fetch`, and each declared secret's placeholder under the variable its rule file
/// names (`env:` of the secret); a secret of kind `aws` gives its placeholder key pair and
/// session token as `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`.
pub fn agent_env(
    proxy_url: &str,
    ca_path: &Path,
    bundle_path: &Path,
    no_proxy: Option<&str>,
    credentials: &CredentialStore,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| env.push((k.to_owned(), v.to_owned()));
    for var in PROXY_VARS {
        set(var, proxy_url);
    }
    let no_proxy = no_proxy.unwrap_or("");
    set("NO_PROXY", no_proxy);
    set("no_proxy", no_proxy);
    let bundle = bundle_path.to_string_lossy();
    for var in BUNDLE_VARS {
        set(var, &bundle);
    }
    let ca = ca_path.to_string_lossy();
    for var in EXTRA_CA_VARS {
        set(var, &ca);
    }
    set("NODE_USE_ENV_PROXY", "1");
    for credential in credentials.iter() {
        if let Some(var) = &credential.env_var {
            set(var, credential.placeholder.as_str());
        }
        if let Some(aws) = &credential.aws {
            set("AWS_ACCESS_KEY_ID", &aws.access_key_id);
            set("AWS_SECRET_ACCESS_KEY", &aws.secret_access_key);
            set("AWS_SESSION_TOKEN", &aws.session_token);
        }
    }
    env
}

/// Environment variables keyward reads secrets from (`from: env:NAME`). `keyward run`
/// removes them from the command's environment, so a real value the operator exported
/// for keyward never reaches the agent (a placeholder set under the same name wins).
pub fn secret_source_vars(rules: &RuleSet) -> Vec<String> {
    let mut vars: Vec<String> = rules
        .secrets()
        .iter()
        .flat_map(|decl| crate::credentials::declared::env_vars(&decl.source))
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

/// `path` made absolute, so the command may change directory and still find the file.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests;
