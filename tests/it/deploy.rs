//! deploy/ checked without a container engine: every YAML file parses, the Kubernetes
//! objects have what the docs promise (replicas, probes on the admin API, isolation), the
//! Dockerfile copies paths that exist and builds with CI's command, and the systemd unit
//! passes `systemd-analyze verify` where that command exists.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn object(kind: &str, name: &str) -> Value {
    let mut files = Vec::new();
    yaml_files(&deploy().join("kubernetes"), &mut files);
    files
        .iter()
        .flat_map(|f| documents(f))
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

#[test]
fn every_deploy_yaml_parses_and_kubernetes_objects_are_complete() {
    let mut files = Vec::new();
    yaml_files(&deploy(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for file in &files {
        for doc in documents(file) {
            assert!(doc.is_object(), "{}: not a mapping", file.display());
            if file.starts_with(deploy().join("kubernetes")) {
                assert!(doc["apiVersion"].is_string(), "{}", file.display());
                assert!(doc["kind"].is_string(), "{}", file.display());
            }
        }
    }
}

#[test]
fn kubernetes_deployment_runs_replicas_probed_on_the_admin_api() {
    let deployment = object("Deployment", "keyward");
    assert!(deployment["spec"]["replicas"].as_u64().unwrap() >= 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = if probe == "readinessProbe" {
            "/readyz"
        } else {
            "/healthz"
        };
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--admin-listen=0.0.0.0:3129"), "{args:?}");
    let volumes = pod["volumes"].to_string();
    assert!(volumes.contains("keyward-rules") && volumes.contains("keyward-ca"));
    assert_eq!(
        object("Service", "keyward")["spec"]["ports"][0]["port"],
        3128
    );
}

#[test]
fn agents_may_reach_only_keyward() {
    let policy = object("NetworkPolicy", "agents-egress-only-keyward");
    assert_eq!(policy["spec"]["policyTypes"][0], "Egress");
    let egress = policy["spec"]["egress"].as_array().unwrap();
    assert_eq!(
        egress[0]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "keyward"
    );
    for rule in egress {
        assert!(rule["to"].is_array(), "every egress rule names its peers");
        assert!(
            !rule.to_string().contains("ipBlock"),
            "no open address ranges"
        );
    }
    let sidecar = object("Deployment", "agent-with-keyward");
    let init = &sidecar["spec"]["template"]["spec"]["initContainers"][0];
    assert_eq!(init["restartPolicy"], "Always", "a native sidecar");
}

#[test]
fn compose_agent_is_on_an_internal_network_only() {
    let compose = &documents(&deploy().join("compose.yaml"))[0];
    assert_eq!(compose["networks"]["agents"]["internal"], true);
    assert_eq!(
        compose["services"]["agent"]["networks"],
        serde_json::json!(["agents"])
    );
    let env = &compose["services"]["agent"]["environment"];
    assert_eq!(env["HTTPS_PROXY"], "http://keyward:3128");
    assert!(
        env["GITHUB_TOKEN"]
            .as_str()
            .unwrap()
            .starts_with("keyward:")
    );
}

/// The arguments of a container (or compose service) as strings.
fn words(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// What every transparent variant's redirect must say: keyward's uid and loopback exempt,
/// every other TCP connection to the port keyward's transparent listener is on.
fn assert_redirect(ruleset: &str, keyward_args: &[&str]) {
    assert!(ruleset.contains("meta skuid 10001 return"), "{ruleset}");
    assert!(ruleset.contains("ip daddr 127.0.0.0/8 return"), "{ruleset}");
    assert!(
        ruleset.contains("meta l4proto tcp redirect to :15001"),
        "{ruleset}"
    );
    assert!(
        keyward_args.contains(&"--transparent-listen=127.0.0.1:15001"),
        "{keyward_args:?}"
    );
}

#[test]
fn kubernetes_transparent_sidecar_redirects_the_pod_to_keyward_before_the_agent_starts() {
    let shipped = std::fs::read_to_string(deploy().join("transparent/redirect.nft")).unwrap();
    let config = object("ConfigMap", "keyward-transparent-redirect");
    assert_eq!(
        config["data"]["redirect.nft"].as_str().unwrap(),
        shipped,
        "the ConfigMap holds deploy/transparent/redirect.nft"
    );
    let deployment = object("Deployment", "agent-with-keyward-transparent");
    let pod = &deployment["spec"]["template"]["spec"];
    let init = pod["initContainers"].as_array().unwrap();
    assert_eq!(init[0]["name"], "redirect", "the redirect runs first");
    assert!(init[0]["restartPolicy"].is_null(), "and runs to completion");
    assert_eq!(
        words(&init[0]["command"]),
        ["nft", "-f", "/etc/keyward/redirect/redirect.nft"]
    );
    assert_eq!(
        init[0]["securityContext"]["capabilities"]["add"],
        serde_json::json!(["NET_ADMIN"])
    );
    let keyward = &init[1];
    assert_eq!(keyward["name"], "keyward");
    assert_eq!(keyward["restartPolicy"], "Always", "a native sidecar");
    assert_eq!(pod["securityContext"]["runAsUser"], 10001, "keyward's uid");
    assert_redirect(&shipped, &words(&keyward["args"]));
    let agent = &pod["containers"][0];
    assert_eq!(agent["name"], "agent");
    let agent_uid = &agent["securityContext"]["runAsUser"];
    assert!(agent_uid.is_u64() && *agent_uid != 10001, "{agent_uid}");
    assert_eq!(
        agent["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    let env = agent["env"].to_string().to_lowercase();
    assert!(!env.contains("proxy"), "no proxy variables: {env}");
}

#[test]
fn compose_transparent_agent_shares_keyward_network_behind_the_redirect() {
    let shipped = std::fs::read_to_string(deploy().join("transparent/redirect.nft")).unwrap();
    let compose = &documents(&deploy().join("compose-transparent.yaml"))[0];
    let services = &compose["services"];
    assert_redirect(&shipped, &words(&services["keyward"]["command"]));
    let redirect = &services["redirect"];
    assert_eq!(redirect["network_mode"], "service:keyward");
    assert_eq!(redirect["cap_add"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(
        words(&redirect["entrypoint"]),
        ["nft", "-f", "/etc/keyward/redirect.nft"]
    );
    assert_eq!(
        words(&redirect["volumes"]),
        ["./transparent/redirect.nft:/etc/keyward/redirect.nft:ro"]
    );
    let agent = &services["agent"];
    assert_eq!(agent["network_mode"], "service:keyward");
    assert_eq!(
        agent["depends_on"]["redirect"]["condition"],
        "service_completed_successfully"
    );
    assert_ne!(agent["user"], "10001", "not keyward's uid");
    let env = agent["environment"].to_string().to_lowercase();
    assert!(!env.contains("proxy"), "no proxy variables: {env}");
    let dockerfile = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("nftables"), "the image carries nft");
}

#[test]
fn dockerfile_builds_with_ci_command_and_copies_existing_paths() {
    let text = std::fs::read_to_string(deploy().join("Dockerfile")).unwrap();
    assert!(text.contains("cargo build --release --locked"));
    assert!(text.contains("USER keyward"));
    assert!(text.contains("HEALTHCHECK") && text.contains("http://127.0.0.1:3129/healthz"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(root.join(source).exists(), "{line}: {source} missing");
        }
    }
}

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(deploy().join("systemd/keyward.service")).unwrap();
    for directive in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=",
        "DynamicUser=yes",
    ] {
        assert!(unit.contains(directive), "{directive}");
    }
    let available = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        println!("note: systemd-analyze not installed; keyward.service not verified");
        return;
    }
    // The installed path does not exist here: point ExecStart at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.service");
    let unit = unit.replace("/usr/local/bin/keyward", env!("CARGO_BIN_EXE_keyward"));
    std::fs::write(&path, unit).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}
