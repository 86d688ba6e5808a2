//! Mints a leaf certificate for one host, signed by the root, with the single leaf key pair
//! generated at start (never the CA key), and wraps it in a rustls server configuration.

use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use time::{Duration, OffsetDateTime};

use super::{CaError, CertificateAuthority};
use crate::target::Host;

/// Leaves start this far in the past, so clients with a slightly slow clock accept them.
const BACKDATE: Duration = Duration::hours(1);
/// Leaf validity; the cache re-mints well before this runs out.
const LEAF_VALIDITY: Duration = Duration::days(7);

/// ALPN protocols offered to agents.
pub const AGENT_ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];
/// TLS sessions kept for resumption, across all hosts. Each cached host's configuration
/// used to carry its own store (256 slots, two sessions per handshake): ~20 KiB a host,
/// 200 MiB at the default cache capacity. One store bounds that for every host at once;
/// rustls resumes a session only under the SNI it was made for.
const SESSION_CACHE: usize = 4096;

/// Issues per-host server configurations.
pub struct LeafIssuer {
    /// The root that signs every leaf.
    ca: Arc<CertificateAuthority>,
    /// The one leaf key pair, shared by all leaves (generated in memory at start).
    leaf_key: KeyPair,
    /// The same key loaded once for rustls, shared by every configuration.
    signing_key: Arc<dyn SigningKey>,
    /// The session store every configuration shares.
    sessions: Arc<dyn StoresServerSessions>,
    /// The crypto provider, one for every configuration rather than a copy each.
    provider: Arc<CryptoProvider>,
}

impl LeafIssuer {
    /// Generates the leaf key pair.
    pub fn new(ca: Arc<CertificateAuthority>) -> Result<Self, CaError> {
        let leaf_key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| CaError::Issue {
                host: "(leaf key)".into(),
                reason: e.to_string(),
            })?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = crate::tls::provider();
        let signing_key = provider.key_provider.load_private_key(der)?;
        Ok(Self {
            ca,
            leaf_key,
            signing_key,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE),
            provider,
        })
    }

    /// The root this issuer signs with.
    pub fn authority(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// Mints a leaf for `host` and returns a server configuration serving it (ALPN h2 and
    /// http/1.1).
    pub fn server_config(&self, host: &Host) -> Result<Arc<ServerConfig>, CaError> {
        let issue_err = |reason: String| CaError::Issue {
            host: host.to_string(),
            reason,
        };
        let mut params = CertificateParams::default();
        params.subject_alt_names = vec![match host {
            Host::Name(name) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| issue_err(e.to_string()))?,
            ),
            Host::Ip(ip) => SanType::IpAddress(*ip),
        }];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, host.bare());
        dn.push(DnType::OrganizationName, "keyward");
        params.distinguished_name = dn;
        params.serial_number = Some(random_serial());
        let now = OffsetDateTime::now_utc();
        params.not_before = now - BACKDATE;
        params.not_after = (now + LEAF_VALIDITY).min(self.ca.not_after() - Duration::days(1));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&self.leaf_key, self.ca.issuer())
            .map_err(|e| issue_err(e.to_string()))?;

        let chain = vec![cert.der().clone(), self.ca.cert_der().clone()];
        let certified = CertifiedKey::new(chain, self.signing_key.clone());
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        config.alpn_protocols = AGENT_ALPN.iter().map(|p| p.to_vec()).collect();
        config.session_storage = self.sessions.clone();
        Ok(Arc::new(config))
    }
}

/// A random positive 128-bit serial number.
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}
