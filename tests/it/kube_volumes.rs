//! Kubernetes-mounted secret files and rules (kubelet's AtomicWriter layout, a version
//! published by swapping the `..data` link): a rotated secret reaches the upstream and
//! swapped rules are reloaded, without restart.

use std::time::Duration;

use http::StatusCode;

use crate::support::agent::Proto;
use crate::support::kube_volume::KubeVolume;
use crate::support::upstream::echo;
use crate::support::{Harness, eventually_async};

/// How long a swap may take to apply (the rules watcher polls and settles in under 1 s).
const APPLY: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_secret_rotated_by_a_data_link_swap_reaches_the_upstream() {
    let harness = Harness::new();
    let mut volume = KubeVolume::create(
        &harness.files_dir().join("github-token"),
        &[("token", "first-mounted-value-0001\n")],
    );
    let h = harness
        .upstream(&["api.github.com"], echo())
        .rules(
            "github.yaml",
            "secrets:\n  github:\n    from: file:$FILES/github-token/token\n    hosts: [api.github.com]\nrules:\n  - id: user\n    method: GET\n    url: https://api.github.com/user\n    inject: [github]\n    set_headers: { Authorization: 'Bearer {{github}}' }\n    decision: allow\n",
        )
        .start()
        .await;
    let (agent, upstream) = (h.agent(), h.upstream());
    let last_seen = || {
        upstream
            .seen()
            .last()
            .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
    };
    let status = agent
        .get_status(Proto::H1, "https://api.github.com/user")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        last_seen().as_deref(),
        Some("Bearer first-mounted-value-0001")
    );
    // Same length and time (see KubeVolume): only the file the link resolves to differs.
    volume.publish(&[("token", "other-mounted-value-0002\n")]);
    eventually_async("the rotated value at the upstream", APPLY, async || {
        let status = agent
            .get_status(Proto::H1, "https://api.github.com/user")
            .await;
        assert_eq!(status, StatusCode::OK);
        (last_seen().as_deref() == Some("Bearer other-mounted-value-0002")).then_some(())
    })
    .await;
    let log = h.keyward.flushed_audit_log().await;
    assert!(!log.contains("mounted-value"), "no value is audited");
}

#[tokio::test]
async fn rules_reload_when_a_configmap_data_link_is_swapped() {
    let harness = Harness::new();
    let rules = |path: &str| {
        format!(
            "rules:\n  - id: read\n    method: GET\n    url: https://api.example.com/{path}/**\n    decision: allow\n"
        )
    };
    let first = rules("read");
    let mut volume = KubeVolume::create(
        &harness.files_dir().join("configmap"),
        &[("api.yaml", &first)],
    );
    let h = harness
        .upstream(&["api.example.com"], echo())
        .rules_dir(volume.dir().to_path_buf())
        .start()
        .await;
    let agent = h.agent();
    let get = async |path: &str| {
        agent
            .get_status(Proto::H1, &format!("https://api.example.com{path}"))
            .await
    };
    assert_eq!(get("/read/1").await, StatusCode::OK);
    assert_eq!(get("/fresh/1").await, StatusCode::FORBIDDEN);
    let second = rules("fresh");
    volume.publish(&[("api.yaml", &second)]);
    eventually_async("the watcher applying the swap", APPLY, async || {
        (get("/fresh/1").await == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(get("/read/1").await, StatusCode::FORBIDDEN);
    assert_eq!(h.upstream().count(), 2);
}
