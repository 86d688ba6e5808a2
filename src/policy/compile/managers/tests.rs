//! Secret-manager sources compile, and their mistakes are reported at their `from:`.

use std::time::Duration;

use crate::policy::compile::Source;
use crate::policy::ruleset::RuleSet;
use crate::policy::{CredentialSource, RoleId, VaultAuth};

fn compile(text: &str) -> Result<RuleSet, Vec<String>> {
    let sources = [Source {
        path: "r.yaml".into(),
        text: text.into(),
    }];
    RuleSet::compile(&sources).map_err(|e| e.errors().iter().map(ToString::to_string).collect())
}

const AWS: &str = "secrets:\n  gh:\n    from:\n      aws_secrets_manager:\n        secret_id: prod/github\n        region: eu-west-1\n        field: token\n        credentials: file:/run/aws.json\n        ttl: 2m\n    hosts: [api.github.com]\n";

const VAULT: &str = "secrets:\n  gh:\n    from:\n      vault:\n        address: https://vault:8200\n        path: secret/data/github\n        field: token\n        auth:\n          approle: { role_id: ci-role, secret_id: env:VAULT_SECRET_ID }\n        namespace: team-a\n    hosts: [api.github.com]\n";

#[test]
fn aws_secrets_manager_compiles() {
    let set = compile(AWS).unwrap();
    let CredentialSource::AwsSecretsManager(d) = &set.secrets()[0].source else {
        panic!("{:?}", set.secrets()[0].source);
    };
    assert_eq!(d.secret_id, "prod/github");
    assert_eq!(d.region, "eu-west-1");
    assert_eq!(d.field.as_deref(), Some("token"));
    assert_eq!(
        d.credentials,
        CredentialSource::File("/run/aws.json".into())
    );
    assert_eq!(d.ttl, Duration::from_secs(120));
    assert!(d.endpoint.is_none());
    let default = compile(&AWS.replace("        ttl: 2m\n", "")).unwrap();
    let CredentialSource::AwsSecretsManager(d) = &default.secrets()[0].source else {
        panic!()
    };
    assert_eq!(d.ttl, Duration::from_secs(300));
}

#[test]
fn vault_compiles_with_approle_or_a_token() {
    let set = compile(VAULT).unwrap();
    let CredentialSource::Vault(d) = &set.secrets()[0].source else {
        panic!("{:?}", set.secrets()[0].source);
    };
    assert_eq!(d.address.to_string(), "https://vault:8200/");
    assert_eq!(d.path, "secret/data/github");
    assert_eq!(d.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        d.auth,
        VaultAuth::AppRole {
            role_id: RoleId::Text("ci-role".into()),
            secret_id: CredentialSource::Env("VAULT_SECRET_ID".into()),
        }
    );
    assert_eq!(
        crate::credentials::declared::env_vars(&set.secrets()[0].source),
        ["VAULT_SECRET_ID"],
        "keyward run removes the secret id's variable from the agent's environment"
    );
    let token = VAULT.replace(
        "approle: { role_id: ci-role, secret_id: env:VAULT_SECRET_ID }",
        "token: file:/run/vault-token",
    );
    let set = compile(&token).unwrap();
    let CredentialSource::Vault(d) = &set.secrets()[0].source else {
        panic!()
    };
    assert_eq!(
        d.auth,
        VaultAuth::Token(CredentialSource::File("/run/vault-token".into()))
    );
}

#[test]
fn secret_manager_mistakes_are_positioned_and_named() {
    let cases = [
        (
            AWS,
            "        region: eu-west-1\n",
            "        region: eu-west-1\n        regoin: x\n",
            "r.yaml:4:7: aws_secrets_manager: unknown field `regoin`",
        ),
        (
            AWS,
            "        region: eu-west-1\n",
            "",
            "r.yaml:4:7: aws_secrets_manager: missing field `region`",
        ),
        (
            AWS,
            "        region: eu-west-1\n",
            "        region: EU West\n",
            "r.yaml:4:7: aws_secrets_manager: invalid region `EU West`",
        ),
        (
            AWS,
            "        ttl: 2m\n",
            "        endpoint: http://sm.example/\n",
            "r.yaml:4:7: aws_secrets_manager: endpoint `http://sm.example/` is not an https:// URL",
        ),
        (
            AWS,
            "        ttl: 2m\n",
            "        ttl: soon\n",
            "r.yaml:4:7: invalid duration `soon`",
        ),
        (
            AWS,
            "file:/run/aws.json",
            "'vault:x'",
            "r.yaml:4:7: invalid credential source `vault:x`",
        ),
        (
            VAULT,
            "https://vault:8200",
            "vault:8200",
            "r.yaml:4:7: vault: address `vault:8200` is not an https:// URL",
        ),
        (
            VAULT,
            "secret/data/github",
            "secret/github",
            "r.yaml:4:7: vault: path `secret/github` is not a KV v2 path",
        ),
        (
            VAULT,
            "        field: token\n",
            "",
            "r.yaml:4:7: vault: missing field `field`",
        ),
        (
            VAULT,
            "        namespace: team-a\n",
            "        namespace: team-a\n        mount: kv\n",
            "r.yaml:4:7: vault: unknown field `mount`",
        ),
        (
            VAULT,
            "approle: {",
            "token: env:T\n          approle: {",
            "r.yaml:4:7: vault: auth needs exactly one of `token:` or `approle:`",
        ),
        (
            VAULT,
            "secret_id: env:VAULT_SECRET_ID",
            "secret: x",
            "r.yaml:4:7: vault: unknown field `secret`",
        ),
    ];
    for (base, from, to, want) in cases {
        let text = base.replace(from, to);
        assert_ne!(text, base, "{from}");
        let all = compile(&text).err().unwrap_or_default().join("\n");
        assert!(all.contains(want), "{to}: want {want} in:\n{all}");
    }
}

#[test]
fn aws_credentials_may_name_a_secret_of_kind_aws() {
    let text = AWS.replace("file:/run/aws.json", "aws-keys")
        + "  aws-keys:\n    kind: aws\n    from: file:/run/aws-keys.json\n    hosts: [sts.amazonaws.com]\n";
    let set = compile(&text).unwrap();
    let CredentialSource::AwsSecretsManager(d) = &set.secrets()[0].source else {
        panic!("{:?}", set.secrets()[0].source);
    };
    assert_eq!(
        d.credentials,
        CredentialSource::File("/run/aws-keys.json".into())
    );
    let all = compile(&AWS.replace("file:/run/aws.json", "nokeys")).unwrap_err();
    assert_eq!(
        all,
        [
            "r.yaml:4:7: aws_secrets_manager: credentials `nokeys` is not a secret of kind aws (name one, or give a source: env:NAME, file:PATH, an argv list)"
        ]
    );
}
