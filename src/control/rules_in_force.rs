//! The rules and credentials in force: compiled from the rules directory (plus `--allow`),
//! swapped atomically on reload so in-flight exchanges finish on the rules they started
//! with, and a failed reload keeps the last good set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::credentials::agents::AgentRegistry;
use crate::credentials::declared;
use crate::credentials::oauth2::TokenClient;
use crate::credentials::sigv4::AwsPlaceholders;
use crate::credentials::{Credential, CredentialStore, Placeholder, Scope};
use crate::policy::RuleId;
use crate::policy::{CompileErrors, HostAllow, RuleSet, SecretDecl, SecretKind, Summary};
use crate::redact::{RuleRedaction, Scrubber};
use crate::secret::SecretValue;

/// How long the set of known secret values is reused before sources are read again.
const KNOWN_REFRESH: Duration = Duration::from_secs(1);

/// One compiled generation of rules and credentials.
pub struct InForce {
    pub rules: RuleSet,
    pub credentials: CredentialStore,
    /// Declared agents and their token sources.
    pub agents: AgentRegistry,
    /// Scrubber of every secret value keyward can currently resolve, and when it was built
    /// (tokio's clock, so a paused test clock drives the refresh).
    known: tokio::sync::Mutex<Option<(Instant, Arc<Scrubber>)>>,
    /// Finds placeholders in streamed request bodies.
    placeholders: Arc<Scrubber>,
    /// The scrubber of no secret, shared by every exchange when no credential is declared.
    no_secrets: Arc<Scrubber>,
    /// Each rule's response redaction, built once for this generation.
    redactions: HashMap<RuleId, Arc<RuleRedaction>>,
}

impl InForce {
    fn new(rules: RuleSet, seed: &[u8; 32], tokens: &TokenClient) -> Self {
        let credentials = CredentialStore::new(
            rules
                .secrets()
                .iter()
                .map(|d| credential(d, seed, tokens))
                .collect(),
        );
        let placeholders = credentials.placeholder_detector().clone();
        let agents = AgentRegistry::new(rules.agents());
        let redactions = rules
            .rules()
            .iter()
            .filter_map(|r| Some((r.id().clone(), Arc::new(RuleRedaction::of(r, &rules)?))))
            .collect();
        Self {
            rules,
            credentials,
            agents,
            known: tokio::sync::Mutex::new(None),
            placeholders,
            no_secrets: Arc::new(Scrubber::empty()),
            redactions,
        }
    }

    /// The response redaction the rule `id` asks for, if any.
    pub fn rule_redaction(&self, id: &RuleId) -> Option<&Arc<RuleRedaction>> {
        self.redactions.get(id)
    }

    /// The placeholder detector for streamed bodies.
    pub fn placeholders(&self) -> &Arc<Scrubber> {
        &self.placeholders
    }

    /// A scrubber of all secret values keyward knows, re-read at most every second, and at
    /// once when `must_cover` holds a value it does not know yet (a just-rotated secret).
    pub async fn known_secrets(&self, must_cover: &[SecretValue]) -> Arc<Scrubber> {
        if self.credentials.is_empty() {
            return self.no_secrets.clone();
        }
        let mut known = self.known.lock().await;
        if let Some((at, scrubber)) = known.as_ref()
            && at.elapsed() < KNOWN_REFRESH
            && must_cover.iter().all(|v| scrubber.covers(v.expose()))
        {
            return scrubber.clone();
        }
        let previous = known.as_ref().map(|(_, scrubber)| scrubber);
        let (scrubber, failures) = self.credentials.known_values(previous).await;
        for (name, error) in failures {
            tracing::debug!(secret = %name, %error, "secret source does not resolve; not in the redaction set");
        }
        *known = Some((Instant::now(), scrubber.clone()));
        scrubber
    }
}

/// Builds a credential from its declaration; the default placeholder is derived from the
/// CA-key seed and the name.
fn credential(decl: &SecretDecl, seed: &[u8; 32], tokens: &TokenClient) -> Credential {
    let source = declared::source(&decl.source, tokens);
    let aws = (decl.kind == SecretKind::Aws)
        .then(|| AwsPlaceholders::derive(seed, decl.name.as_str(), decl.placeholder.as_deref()));
    let placeholder = match &aws {
        Some(aws) => aws.access_key_id.clone(),
        None => decl
            .placeholder
            .clone()
            .unwrap_or_else(|| default_placeholder(seed, decl.name.as_str())),
    };
    Credential {
        name: decl.name.clone(),
        source,
        placeholder: Placeholder(placeholder),
        aws,
        env_var: decl.env.clone(),
        hosts: decl.hosts.clone(),
        scope: Scope {
            methods: decl.methods.clone(),
            paths: decl.paths.clone(),
        },
    }
}

/// `keyward:NAME:<16 hex>` from SHA-256(seed, name).
pub fn default_placeholder(seed: &[u8; 32], name: &str) -> String {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(name.as_bytes());
    let digest = h.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("keyward:{name}:{hex}")
}

/// The current generation, and how to load the next one.
pub struct RulesInForce {
    current: ArcSwap<InForce>,
    dir: PathBuf,
    allows: Vec<HostAllow>,
    seed: [u8; 32],
    /// The client OAuth 2.0 secrets reach their token endpoints with, set once it exists.
    tokens: TokenClient,
}

impl RulesInForce {
    /// Compiles `dir` (a missing directory means no rule files) plus `allows`.
    pub fn load(dir: &Path, allows: Vec<HostAllow>, seed: [u8; 32]) -> Result<Self, CompileErrors> {
        let rules = compile(dir, &allows)?;
        let tokens = TokenClient::default();
        Ok(Self {
            current: ArcSwap::from_pointee(InForce::new(rules, &seed, &tokens)),
            dir: dir.to_path_buf(),
            allows,
            seed,
            tokens,
        })
    }

    /// Gives OAuth 2.0 secrets the upstream client to reach their token endpoints with
    /// (the first call wins).
    pub fn set_token_client(&self, upstream: crate::upstream::Upstream) {
        let _ = self.tokens.set(upstream);
    }

    /// The generation in force now.
    pub fn current(&self) -> Arc<InForce> {
        self.current.load_full()
    }

    /// Recompiles; on any error the current generation stays and the errors are returned.
    pub fn reload(&self) -> Result<Summary, CompileErrors> {
        let rules = compile(&self.dir, &self.allows)?;
        let summary = rules.summary();
        self.current
            .store(Arc::new(InForce::new(rules, &self.seed, &self.tokens)));
        Ok(summary)
    }

    /// The rules directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn compile(dir: &Path, allows: &[HostAllow]) -> Result<RuleSet, CompileErrors> {
    let rules = if dir.exists() {
        RuleSet::load_dir(dir)?
    } else {
        RuleSet::compile(&[])?
    };
    Ok(rules.with_host_allows(allows))
}
