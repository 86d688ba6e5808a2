//! The root CA: created on first start (ECDSA P-256, CA constraints, key file 0600) or loaded
//! from `ca.pem` / `ca-key.pem`, and its SHA-256 fingerprint for `keyward ca show`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::CaError;

/// File name of the CA certificate inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key inside the CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca-key.pem";

/// How long a freshly created root is valid; leaves are always minted well inside this.
const ROOT_VALIDITY: Duration = Duration::days(3650);

/// A loaded root CA, able to sign leaf certificates.
pub struct CertificateAuthority {
    /// Signs leaves; holds the CA key (never used as a leaf key).
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM, as given to agents to trust.
    cert_pem: String,
    /// The CA certificate, DER, appended to each leaf chain.
    cert_der: CertificateDer<'static>,
    /// End of the root's validity: leaves never outlive it.
    not_after: OffsetDateTime,
    /// Where `ca.pem` lives, for the start-up banner and `keyward env`.
    cert_path: PathBuf,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("cert_path", &self.cert_path)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, creating it first when neither file exists.
    pub fn load_or_create(dir: &Path) -> Result<Self, CaError> {
        let cert = dir.join(CA_CERT_FILE);
        let key = dir.join(CA_KEY_FILE);
        if !cert.exists() && !key.exists() {
            Self::create(dir, false)?;
        }
        Self::load(dir)
    }

    /// Creates a new root in `dir`; refuses to overwrite one unless `force`.
    pub fn create(dir: &Path, force: bool) -> Result<Self, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if !force {
            for path in [&cert_path, &key_path] {
                if path.exists() {
                    return Err(CaError::Exists { path: path.clone() });
                }
            }
        }
        fs::create_dir_all(dir).map_err(|source| CaError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| invalid(&key_path, e))?;
        let params = root_params();
        let cert = params
            .self_signed(&key)
            .map_err(|e| invalid(&cert_path, e))?;
        write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
        Self::load(dir)
    }

    /// Loads an existing root from `dir`.
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if !cert_path.exists() {
            return Err(CaError::Missing {
                dir: dir.to_path_buf(),
            });
        }
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;
        warn_if_key_readable(&key_path);
        let key = KeyPair::from_pem(&key_pem).map_err(|e| invalid(&key_path, e))?;
        let cert_der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
            .next()
            .ok_or_else(|| invalid(&cert_path, "no CERTIFICATE block"))?
            .map_err(|e| invalid(&cert_path, e))?;
        let not_after = not_after(&cert_der).map_err(|e| invalid(&cert_path, e))?;
        let issuer =
            Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| invalid(&cert_path, e))?;
        Ok(Self {
            issuer,
            cert_pem,
            cert_der,
            not_after,
            cert_path,
        })
    }

    /// The CA certificate in PEM form.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate in DER form.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Path of `ca.pem`, what agents must trust.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// End of the root's validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// The signer for leaf certificates.
    pub(super) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// A stable secret derived from the CA key: default placeholders are computed from it,
    /// so they survive restarts and cannot be guessed without the key.
    pub fn placeholder_seed(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"keyward placeholder seed v1\0");
        hasher.update(self.issuer.key().serialize_der());
        hasher.finalize().into()
    }

    /// SHA-256 of the DER certificate, as colon-separated upper-case hex.
    pub fn fingerprint_sha256(&self) -> String {
        let digest = Sha256::digest(self.cert_der.as_ref());
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// Parameters of a new root: a name that says keyward and the machine, CA constraints.
fn root_params() -> CertificateParams {
    let machine = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned());
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("keyward CA ({machine})"));
    dn.push(DnType::OrganizationName, "keyward");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + ROOT_VALIDITY;
    params
}

/// The end of a certificate's validity.
fn not_after(der: &CertificateDer<'_>) -> Result<OffsetDateTime, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    if !cert.is_ca() {
        return Err("certificate is not a CA (basicConstraints CA:FALSE)".into());
    }
    Ok(cert.validity().not_after.to_datetime())
}

fn read(path: &Path) -> Result<String, CaError> {
    fs::read_to_string(path).map_err(|source| CaError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> CaError {
    CaError::Invalid {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Writes a file created with `mode` from the start, so a key is never briefly world-readable.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    let err = |source| CaError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let mut file = options.open(path).map_err(err)?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        let mut file = options.open(path).map_err(err)?;
        file.write_all(bytes).map_err(err)
    }
}

fn warn_if_key_readable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "CA key is readable by group or others; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_ca_has_private_key_mode_0600_and_reloads() {
        let dir = std::env::temp_dir().join(format!("keyward-ca-{}", rand::random::<u64>()));
        let ca = CertificateAuthority::create(&dir, false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(CA_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = CertificateAuthority::load_or_create(&dir).unwrap();
        assert_eq!(ca.fingerprint_sha256(), again.fingerprint_sha256());
        assert!(matches!(
            CertificateAuthority::create(&dir, false),
            Err(CaError::Exists { .. })
        ));
        let forced = CertificateAuthority::create(&dir, true).unwrap();
        assert_ne!(forced.fingerprint_sha256(), ca.fingerprint_sha256());
        fs::remove_dir_all(&dir).unwrap();
    }
}
