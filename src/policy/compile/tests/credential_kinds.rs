//! Compile checks of the secrets that are not plain tokens (OAuth 2.0, AWS) and of `sign:`.

use super::*;

#[test]
fn oauth2_secrets_compile_and_their_mistakes_are_positioned() {
    let ok = "secrets:\n  crm:\n    oauth2:\n      token_url: https://auth.crm.example/token\n      client_id: kw\n      client_secret: env:CRM_SECRET\n      refresh_token: file:/run/crm-refresh\n      scope: a b\n      client_auth: body\n    hosts: [api.crm.example]\n";
    let set = crate::policy::RuleSet::compile(&[src("r.yaml", ok)]).unwrap();
    let crate::policy::CredentialSource::OAuth2(o) = &set.secrets()[0].source else {
        panic!("not oauth2: {:?}", set.secrets()[0].source);
    };
    assert_eq!(o.token_url.to_string(), "https://auth.crm.example/token");
    assert_eq!(
        o.client_secret,
        Some(crate::policy::CredentialSource::Env("CRM_SECRET".into()))
    );
    assert!(o.refresh_token.is_some() && o.secret_in_body);
    assert_eq!(
        crate::credentials::declared::env_vars(&set.secrets()[0].source),
        ["CRM_SECRET"],
        "keyward run removes the client secret's variable from the agent's environment"
    );
    let cases = [
        (
            "      token_url: https://auth.crm.example/token\n",
            "      token_url: http://auth.crm.example/token\n",
            "r.yaml:4:18: invalid token_url `http://auth.crm.example/token` (an https:// URL",
        ),
        (
            "      client_auth: body\n",
            "      client_auth: jwt\n",
            "r.yaml:9:20: unknown client_auth `jwt` (use basic or body)",
        ),
        (
            "      client_auth: body\n",
            "      client_auth: body\n      grant: password\n",
            "r.yaml:10:7: unknown field `grant`",
        ),
        (
            "    hosts:",
            "    from: env:X\n    hosts:",
            "r.yaml:2:3: secret `crm` has both `from:` and `oauth2:`",
        ),
        (
            "      client_secret: env:CRM_SECRET\n      refresh_token: file:/run/crm-refresh\n",
            "",
            "r.yaml:5:18: the client-credentials grant needs a `client_secret:`",
        ),
        (
            "      client_secret: env:CRM_SECRET\n",
            "      client_secret: 'vault:x'\n",
            "r.yaml:6:22: invalid credential source `vault:x`",
        ),
    ];
    for (from, to, want) in cases {
        let text = ok.replace(from, to);
        let all = errors(&[src("r.yaml", &text)]).join("\n");
        assert!(all.contains(want), "{to}: want {want} in:\n{all}");
    }
    let none = one_error("secrets:\n  crm: { hosts: [a.com] }\n");
    assert!(
        none.contains("r.yaml:2:3: secret `crm` needs `from:`"),
        "{none}"
    );
}

#[test]
fn sign_blocks_compile_and_their_mistakes_are_positioned() {
    let ok = "secrets:\n  pay: { from: env:PAY, hosts: [api.pay.example] }\nrules:\n  - id: p\n    url: https://api.pay.example/**\n    sign:\n      secret: pay\n      header: X-Signature\n      message: \"{method}\\n{path}\\n{timestamp}\\n{body_sha256}\"\n      value: \"v1={signature}\"\n      algorithm: hmac-sha512\n      encoding: base64\n      timestamp_header: X-Timestamp\n    decision: allow\n";
    let set = crate::policy::RuleSet::compile(&[src("r.yaml", ok)]).unwrap();
    let sign = set.rules()[0].sign().unwrap();
    assert_eq!(
        sign.algorithm,
        crate::policy::signing::Algorithm::HmacSha512
    );
    assert_eq!(sign.header.as_str(), "x-signature");
    assert!(
        set.rules()[0].inject().is_empty(),
        "a signing key is not injected"
    );
    let cases = [
        (
            "secret: pay",
            "secret: nope",
            "r.yaml:7:15: unknown secret `nope`",
        ),
        (
            "api.pay.example] }",
            "other.example] }",
            "r.yaml:7:15: secret `pay` may not be sent to `api.pay.example`",
        ),
        (
            "header: X-Signature",
            "header: Host",
            "r.yaml:8:15: header `Host` is keyward's to set",
        ),
        (
            "{body_sha256}",
            "{secret}",
            "r.yaml:9:16: unknown `{secret}`",
        ),
        (
            "{body_sha256}",
            "{signature}",
            "`{signature}` belongs in `value:`",
        ),
        (
            "v1={signature}",
            "v1",
            "r.yaml:10:14: `value:` must contain `{signature}`",
        ),
        (
            "hmac-sha512",
            "md5",
            "r.yaml:11:18: unknown algorithm `md5`",
        ),
        (
            "encoding: base64",
            "encoding: b32",
            "r.yaml:12:17: unknown encoding `b32`",
        ),
        (
            "    decision: allow",
            "      salt: x\n    decision: allow",
            "unknown field `salt`",
        ),
    ];
    for (from, to, want) in cases {
        let text = ok.replace(from, to);
        let all = errors(&[src("r.yaml", &text)]).join("\n");
        assert!(all.contains(want), "{to}: want {want} in:\n{all}");
    }
}

#[test]
fn aws_secrets_take_no_env_no_short_placeholder_and_no_templates() {
    let text = r#"
secrets:
  aws: { kind: aws, from: env:AWS_KEYS, hosts: ["*.amazonaws.com"], env: AWS_ACCESS_KEY_ID }
  cloud: { kind: gcp, from: env:X, hosts: [x.example] }
  short: { kind: aws, from: env:Y, placeholder: "AKIA:x", hosts: ["*.amazonaws.com"] }
  ok: { kind: aws, from: env:Z, hosts: ["*.amazonaws.com"] }
rules:
  - id: a
    url: https://s3.amazonaws.com/
    inject: [ok]
    set_headers: { Authorization: "Bearer {{ok}}" }
    decision: allow
"#;
    let all = errors(&[src("r.yaml", text)]);
    let expected = [
        "r.yaml:3:3: secret `aws` of kind aws takes no `env:`",
        "r.yaml:4:18: unknown secret kind `gcp` (use token or aws)",
        "r.yaml:5:3: secret `short` of kind aws: `placeholder:` is its placeholder access key id",
        "r.yaml:11:35: secret `ok` of kind aws signs requests; it has no value for a header",
    ];
    assert_eq!(all.len(), expected.len(), "{all:#?}");
    for (got, want) in all.iter().zip(expected) {
        assert!(got.starts_with(want), "{got} does not start with {want}");
    }
}
