//! Credential custody: the declared secrets (source, placeholder, bound destinations and
//! request scope), their injection into allowed requests, and the exfiltration guard that refuses any request still
//! carrying a placeholder keyward did not replace.

pub mod agents;
mod api_client;
pub mod aws_sm;
pub mod declared;
mod guard;
mod inject;
pub mod oauth2;
mod scope;
pub mod sign;
pub mod sigv4;
pub mod source;
mod store;
pub mod vault;

pub use guard::{ExfilGuard, Exfiltration};
pub use inject::{InjectError, Injected, inject};
pub use scope::{OutOfScope, Scope};
pub use source::{SecretSource, SourceError};
pub use store::{Credential, CredentialStore, HostPattern, Placeholder, SecretName};

#[cfg(test)]
mod scope_tests;
#[cfg(test)]
mod tests;
