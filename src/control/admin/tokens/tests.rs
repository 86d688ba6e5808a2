//! Admin token tests: configured, named and generated tokens, their files' permissions, and
//! the refusals of bad approvers that never show a token.

use super::*;

fn config(dir: &Path) -> Config {
    Config {
        ca_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

#[tokio::test]
async fn without_a_configured_token_one_is_generated_private_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let first = AdminTokens::load(&config(dir.path())).await.unwrap();
    let path = dir.path().join(GENERATED_TOKEN_FILE);
    assert_eq!(first.generated_path(), Some(path.as_path()));
    let token = std::fs::read_to_string(&path).unwrap();
    assert!(token.len() >= 40, "{} bytes", token.len());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let header = format!("Bearer {token}");
    assert_eq!(
        first.authenticate(Some(header.as_bytes())),
        Some(ADMIN_NAME)
    );
    let second = AdminTokens::load(&config(dir.path())).await.unwrap();
    assert_eq!(
        second.authenticate(Some(header.as_bytes())),
        Some(ADMIN_NAME),
        "a restart keeps the token"
    );
    assert_eq!(first.authenticate(None), None);
    assert_eq!(
        first.authenticate(Some(b"Bearer wrong-token-0123456789")),
        None
    );
    assert_eq!(
        first.authenticate(Some(token.as_bytes())),
        None,
        "no scheme"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_token_file_others_can_read_is_narrowed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(GENERATED_TOKEN_FILE);
    std::fs::write(&path, "an-existing-token-0123456789\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let tokens = AdminTokens::load(&config(dir.path())).await.unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        tokens.authenticate(Some(b"Bearer an-existing-token-0123456789")),
        Some(ADMIN_NAME)
    );
}

#[tokio::test]
async fn approvers_are_named_and_no_token_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alice"), "alice-approver-token-0001\n").unwrap();
    std::fs::write(dir.path().join("bob"), "bob-approver-token-00002").unwrap();
    let mut c = config(dir.path());
    for name in ["alice", "bob"] {
        c.approvers.push(Approver {
            name: name.into(),
            token: format!("file:{}", dir.path().join(name).display()),
        });
    }
    let tokens = AdminTokens::load(&c).await.unwrap();
    assert_eq!(tokens.generated_path(), None);
    assert!(!dir.path().join(GENERATED_TOKEN_FILE).exists());
    assert_eq!(
        tokens.authenticate(Some(b"Bearer alice-approver-token-0001")),
        Some("alice")
    );
    assert_eq!(
        tokens.authenticate(Some(b"Bearer bob-approver-token-00002")),
        Some("bob")
    );
    assert_eq!(tokens.names().collect::<Vec<_>>(), ["alice", "bob"]);
}

#[tokio::test]
async fn bad_approvers_are_refused_without_showing_a_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short"), "tiny").unwrap();
    std::fs::write(dir.path().join("same"), "the-same-token-for-two").unwrap();
    let file = |n: &str| format!("file:{}", dir.path().join(n).display());
    let cases = [
        (vec![("carol", file("short"))], "shorter than"),
        (
            vec![("a", file("same")), ("a", file("same"))],
            "given twice",
        ),
        (
            vec![("a", file("same")), ("b", file("same"))],
            "share one token",
        ),
        (vec![("bad name", file("same"))], "not allowed"),
        (vec![("dave", file("missing"))], "cannot read"),
    ];
    for (approvers, expected) in cases {
        let mut c = config(dir.path());
        c.approvers = approvers
            .into_iter()
            .map(|(name, token)| Approver {
                name: name.into(),
                token,
            })
            .collect();
        let err = AdminTokens::load(&c).await.unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(
            !err.contains("the-same-token") && !err.contains("tiny"),
            "{err}"
        );
    }
}
