//! deploy/kubernetes as replicas sharing Redis, checked without a cluster: the objects parse
//! and kustomization.yaml lists every one; the keyward.yaml of the `keyward-config`
//! ConfigMap is accepted by keyward's own loader and reads only what the Deployment mounts;
//! the rules ConfigMap passes `keyward check`; the PDB, probes, anti-affinity and the Redis
//! NetworkPolicy are there; no secret value is written outside a Secret's placeholder. Then
//! the Deployment starts with its mounts against a real `redis-server` using the Secret's
//! password, and two replicas configured by that keyward.yaml share one rate limit and
//! write audit chains that `keyward audit verify --public-key` accepts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::deploy_units::{object, objects, string_map};
use keyward::config::FileConfig;

mod running;

/// The Redis URL the ConfigMap names (redis.yaml's Service).
pub(crate) const REDIS_IN_CLUSTER: &str = "redis://keyward-redis:6379";

fn kubernetes() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

pub(crate) fn keyward_yaml(all: &[Value]) -> String {
    object(all, "ConfigMap", "keyward-config")["data"]["keyward.yaml"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The keyward container and its pod spec.
fn keyward_pod(all: &[Value]) -> (&Value, &Value) {
    let pod = &object(all, "Deployment", "keyward")["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "keyward")
        .unwrap();
    (pod, container)
}

/// Every file the keyward container sees through its ConfigMap and Secret volumes, by
/// mounted path, and its emptyDir mounts.
pub(crate) fn mounted(all: &[Value]) -> (BTreeMap<String, String>, Vec<String>) {
    let (pod, container) = keyward_pod(all);
    let mut files = BTreeMap::new();
    let mut empty = Vec::new();
    for mount in container["volumeMounts"].as_array().unwrap() {
        let at = mount["mountPath"].as_str().unwrap();
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let data = if let Some(name) = volume["configMap"]["name"].as_str() {
            string_map(&object(all, "ConfigMap", name)["data"])
        } else if let Some(name) = volume["secret"]["secretName"].as_str() {
            string_map(&object(all, "Secret", name)["stringData"])
        } else {
            assert!(volume["emptyDir"].is_object(), "{volume}");
            empty.push(at.to_owned());
            continue;
        };
        for (key, text) in data {
            files.insert(format!("{at}/{key}"), text);
        }
    }
    (files, empty)
}

#[test]
fn kustomization_lists_every_manifest_and_secrets_are_created_by_its_commands() {
    let text = std::fs::read_to_string(kubernetes().join("kustomization.yaml")).unwrap();
    let kustomization: Value = serde_saphyr::from_str(&text).unwrap();
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for resource in &resources {
        assert!(kubernetes().join(resource).is_file(), "{resource} missing");
    }
    for entry in std::fs::read_dir(kubernetes()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name == "kustomization.yaml" {
            continue;
        }
        if name.ends_with("-secret.yaml") {
            // Shapes only: the Secret is made by the command the comment gives.
            let secret = &crate::deploy_units::yaml(&kubernetes().join(&name))[0];
            let made = format!(
                "create secret generic {}",
                secret["metadata"]["name"].as_str().unwrap()
            );
            assert!(text.contains(&made), "kustomization.yaml: no `{made}`");
            assert!(!resources.contains(&name.as_str()), "{name}: a shape only");
        } else {
            assert!(
                resources.contains(&name.as_str()),
                "{name} not in resources"
            );
        }
    }
    for name in [
        "config-configmap.yaml",
        "redis.yaml",
        "pdb.yaml",
        "networkpolicy-redis.yaml",
    ] {
        assert!(resources.contains(&name), "{name}");
    }
}

#[test]
fn kustomize_builds_every_listed_object_into_the_namespace() {
    let text = std::fs::read_to_string(kubernetes().join("kustomization.yaml")).unwrap();
    let kustomization: Value = serde_saphyr::from_str(&text).unwrap();
    let mut listed: Vec<(String, String)> = Vec::new();
    for resource in kustomization["resources"].as_array().unwrap() {
        let path = kubernetes().join(resource.as_str().unwrap());
        for o in crate::deploy_units::yaml(&path) {
            listed.push((o["kind"].to_string(), o["metadata"]["name"].to_string()));
        }
    }
    // scripts/test installs kubectl (kubernetes-client), whose `kustomize` needs no cluster.
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(kubernetes())
        .output()
        .expect("kubectl is not installed (scripts/test installs kubernetes-client)");
    assert!(out.status.success(), "{out:?}");
    let built =
        serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout)).unwrap();
    let mut names: Vec<(String, String)> = built
        .iter()
        .map(|o| {
            assert_eq!(o["metadata"]["namespace"], "agents", "{o}");
            (o["kind"].to_string(), o["metadata"]["name"].to_string())
        })
        .collect();
    names.sort();
    listed.sort();
    assert_eq!(names, listed);
}

#[test]
fn replicas_are_spread_probed_and_budgeted() {
    let all = objects();
    let deployment = object(&all, "Deployment", "keyward");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let (pod, container) = keyward_pod(&all);
    let term = &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        term["labelSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "keyward"
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let args = container["args"].to_string();
    assert!(
        args.contains("--config=/etc/keyward/config/keyward.yaml"),
        "{args}"
    );
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.yaml");
    std::fs::write(&path, keyward_yaml(&all)).unwrap();
    let mut config = keyward::config::Config::default();
    FileConfig::load(&path).unwrap().apply(&mut config).unwrap();
    assert!(
        std::time::Duration::from_secs(grace) > config.limits.shutdown_grace,
        "the kubelet waits for keyward's drain ({grace} s)"
    );
    let pdb = object(&all, "PodDisruptionBudget", "keyward");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    let spec = &pdb["spec"];
    assert!(
        spec["maxUnavailable"] == 1 || spec["minAvailable"] == 2,
        "{spec}"
    );
    assert_eq!(
        spec["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn redis_is_small_volatile_password_protected_and_reached_by_keyward_only() {
    let all = objects();
    let redis = object(&all, "Deployment", "keyward-redis");
    let container = &redis["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(after("--save"), "", "no snapshots");
    assert_eq!(after("--appendonly"), "no");
    assert_eq!(after("--requirepass"), "$(REDIS_PASSWORD)");
    let env = &container["env"][0];
    assert_eq!(env["name"], "REDIS_PASSWORD");
    assert_eq!(env["valueFrom"]["secretKeyRef"]["name"], "keyward-redis");
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert!(container["resources"]["limits"]["cpu"].is_string());
    let service = object(&all, "Service", "keyward-redis");
    assert_eq!(service["spec"]["ports"][0]["port"], 6379);
    assert!(keyward_yaml(&all).contains(&format!("{REDIS_IN_CLUSTER}/")));

    let policy = object(&all, "NetworkPolicy", "keyward-redis-from-keyward");
    let spec = &policy["spec"];
    assert_eq!(
        spec["podSelector"],
        redis["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .map(|l| serde_json::json!({ "matchLabels": l }))
            .unwrap()
    );
    let ingress = spec["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1, "{ingress:?}");
    let from = ingress[0]["from"].as_array().unwrap();
    assert_eq!(from.len(), 1, "{from:?}");
    assert_eq!(
        from[0],
        serde_json::json!({ "podSelector": { "matchLabels": { "app.kubernetes.io/name": "keyward" } } }),
        "keyward's pods only, of this namespace"
    );
    assert_eq!(ingress[0]["ports"][0]["port"], 6379);
    assert_eq!(
        spec["policyTypes"],
        serde_json::json!(["Ingress", "Egress"])
    );
    assert_eq!(spec["egress"], serde_json::json!([]));
}

#[test]
fn no_secret_value_is_written_outside_a_secret_placeholder() {
    let all = objects();
    for o in &all {
        if o["kind"] == "Secret" {
            for (key, value) in string_map(&o["stringData"]) {
                assert!(value.contains("replace"), "{key}: a placeholder only");
            }
            continue;
        }
        // An env entry never carries a value of its own for a secret-looking name.
        let text = o.to_string();
        for needle in ["\"value\":\"ghp_", "BEGIN PRIVATE KEY", "replace-me"] {
            assert!(
                !text.contains(needle),
                "{}: {needle}",
                o["metadata"]["name"]
            );
        }
    }
    // keyward.yaml reads each secret from a mounted file.
    let config: Value = serde_saphyr::from_str(&keyward_yaml(&all)).unwrap();
    assert!(
        config["state"]["password"]
            .as_str()
            .unwrap()
            .starts_with("file:")
    );
    assert!(
        config["audit"]["checkpoints"]["key"]
            .as_str()
            .unwrap()
            .starts_with("file:")
    );
    for approver in config["approvers"].as_array().unwrap() {
        assert!(approver["token"].as_str().unwrap().starts_with("file:"));
    }
    assert!(!config["state"]["redis"].as_str().unwrap().contains('@'));
}

#[test]
fn config_map_keyward_yaml_loads_and_reads_only_what_the_deployment_mounts() {
    let all = objects();
    let (files, empty) = mounted(&all);
    let (_, container) = keyward_pod(&all);
    let config_path = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str().unwrap().strip_prefix("--config="))
        .unwrap();
    let text = files
        .get(config_path)
        .unwrap_or_else(|| panic!("{config_path} not mounted"));
    assert_eq!(*text, keyward_yaml(&all));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.yaml");
    std::fs::write(&path, text).unwrap();
    let mut config = keyward::config::Config::default();
    FileConfig::load(&path).unwrap().apply(&mut config).unwrap();
    let state = config.state.unwrap();
    let password = state.password.unwrap();
    let secret_file = |spec: &str| {
        let file = spec.strip_prefix("file:").unwrap();
        assert!(files.contains_key(file), "{file} is not a mounted file");
    };
    secret_file(&password);
    let audit = config.audit.unwrap();
    assert!(
        empty.iter().any(|d| audit.path.starts_with(d)),
        "{} is on no writable volume",
        audit.path.display()
    );
    assert!(
        audit.replica.is_none(),
        "the replica id is the pod's host name"
    );
    assert!(audit.also_stdout);
    let checkpoints = audit.checkpoints.unwrap();
    let keyward::audit::checkpoint::schedule::KeySource::Spec(key) = &checkpoints.key else {
        panic!("the key is read from a file");
    };
    secret_file(key);
    assert!(!config.approvers.is_empty());
    for approver in &config.approvers {
        secret_file(&approver.token);
    }
}

#[test]
fn rules_config_map_passes_keyward_check() {
    let all = objects();
    let dir = tempfile::tempdir().unwrap();
    let data = string_map(&object(&all, "ConfigMap", "keyward-rules")["data"]);
    assert!(!data.is_empty());
    for (name, text) in data {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("check")
        .arg(dir.path())
        .env(
            "GITHUB_TOKEN",
            "ghp_deploy_kube_test_value_0123456789abcdef",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}
