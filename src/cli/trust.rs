//! `keyward ca trust-instructions`: how to make keyward's CA trusted by operating systems
//! and language stores, for clients that ignore `SSL_CERT_FILE` and friends, with the
//! actual CA path filled in.

use std::path::Path;

/// The instructions for the CA at `ca` (an absolute path).
pub fn instructions(ca: &Path) -> String {
    let ca = ca.display().to_string();
    let q = shell_quote(&ca);
    TEMPLATE.replace("{CA}", &q)
}

/// Single-quoted for sh, so a path with spaces pastes safely.
fn shell_quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

const TEMPLATE: &str = r#"keyward's CA certificate: {CA}

Most clients need no system change: `keyward run -- CMD` (or `eval "$(keyward env)"`) sets
SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO, ... for them.
For clients that read only the system or their own store, add the CA there. Remove it the
same way when the agent no longer runs behind keyward.

Debian / Ubuntu
  sudo cp {CA} /usr/local/share/ca-certificates/keyward.crt
  sudo update-ca-certificates
  (remove: delete the file, then `sudo update-ca-certificates --fresh`)

Alpine
  apk add ca-certificates
  cp {CA} /usr/local/share/ca-certificates/keyward.crt
  update-ca-certificates

RHEL / Fedora / CentOS / Amazon Linux
  sudo cp {CA} /etc/pki/ca-trust/source/anchors/keyward.pem
  sudo update-ca-trust extract

macOS (system keychain; browsers and curl from Apple use it)
  sudo security add-trusted-cert -d -r trustRoot \
    -k /Library/Keychains/System.keychain {CA}
  (remove: Keychain Access > System > "keyward CA (…)" > Delete)

Java (keytool; each JDK has its own cacerts, default password "changeit")
  keytool -importcert -noprompt -cacerts -storepass changeit -alias keyward -file {CA}
  (JDK 8: -keystore "$JAVA_HOME/jre/lib/security/cacerts" instead of -cacerts)
  or per process: -Djavax.net.ssl.trustStore=/path/to/truststore.jks

Python certifi (clients that pin certifi's bundle, e.g. older httpx, aiohttp, botocore)
  cat {CA} >> "$(python3 -m certifi)"
  (undone by the next `pip install -U certifi`; prefer SSL_CERT_FILE / REQUESTS_CA_BUNDLE)

Node.js
  NODE_EXTRA_CA_CERTS={CA} node app.js      (adds to Node's bundled roots)
  or node --use-openssl-ca with the system store updated as above

Go, Rust (rustls-native-certs), curl, wget, git
  use the system store (above) or SSL_CERT_FILE={CA}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_filled_in_everywhere() {
        let text = instructions(Path::new("/opt/key ward/certs/ca.pem"));
        assert!(!text.contains("{CA}"));
        assert!(text.contains("cp '/opt/key ward/certs/ca.pem' /usr/local/share"));
        assert!(text.contains("-file '/opt/key ward/certs/ca.pem'"));
    }

    #[test]
    fn plain_paths_are_not_quoted() {
        let text = instructions(Path::new("/etc/keyward/certs/ca.pem"));
        assert!(text.contains("sudo cp /etc/keyward/certs/ca.pem /usr/local"));
    }
}
