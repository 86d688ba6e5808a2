//! Newtypes for names that must not be confused: rule ids, agent names, secret names.
//! Each serialises as its plain string (audit entries, refusal bodies).

use std::fmt;
use std::sync::Arc;

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Shared, not copied: a decision, an exchange and its audit entry hold the same name.
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps a name; validation happens in the compiler, not here.
            pub fn new(name: impl Into<Arc<str>>) -> Self {
                Self(name.into())
            }

            /// The name as written in the rule files.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(name.into())
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(name.into())
            }
        }
    };
}

name_type!(
    /// The unique `id` of a rule (or `allow:HOST[:PORT]` for `--allow` rules).
    RuleId
);
name_type!(
    /// The name of an agent declared under `agents:`.
    AgentId
);
name_type!(
    /// The name of a secret declared under `secrets:` (never its value).
    SecretName
);
