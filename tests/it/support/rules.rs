//! The example rules of `rules/`, copied to a temporary directory with every secret source
//! rewritten to a file holding a known test value, so tests can look for those values.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A copy of the example rules and the test values of their secrets.
pub struct ExampleRules {
    pub dir: tempfile::TempDir,
    /// secret name -> the real value keyward reads.
    pub values: BTreeMap<String, String>,
    /// agent name -> its proxy token.
    pub agents: BTreeMap<String, String>,
}

impl ExampleRules {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    /// The rules loaded, and the hosts their tests send requests to.
    pub fn load_with_test_hosts(&self) -> (keyward::policy::RuleSet, BTreeSet<String>) {
        let rules = keyward::policy::RuleSet::load_dir(&self.path()).unwrap();
        let hosts = rules
            .tests()
            .iter()
            .map(|t| t.request.host.clone())
            .collect();
        (rules, hosts)
    }
}

/// Copies `rules/*.yaml`, pointing each secret at a file with a distinctive value.
pub fn example_rules() -> ExampleRules {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    let source_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let from = regex::Regex::new(r"(?m)^(\s+)from: .*$").unwrap();
    let name_line = regex::Regex::new(r"(?m)^  ([a-z0-9_-]+):\s*$").unwrap();
    let mut values = BTreeMap::new();
    let mut agents = BTreeMap::new();
    let agent_line = regex::Regex::new(r"^(\s+)([a-z0-9_-]+): \{ token: [^}]+\}\s*$").unwrap();
    for entry in std::fs::read_dir(&source_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        let mut current: Option<String> = None;
        let mut in_secrets = false;
        for line in text.lines() {
            if !line.starts_with(' ') && !line.is_empty() {
                in_secrets = line.starts_with("secrets:");
            }
            if in_secrets && let Some(c) = name_line.captures(line) {
                current = Some(c[1].to_owned());
            }
            if let Some(c) = agent_line.captures(line) {
                let name = c[2].to_owned();
                let token = format!("agent-{name}-token-{:016x}", rand::random::<u64>());
                let file = secrets.join(format!("agent-{name}"));
                std::fs::write(&file, &token).unwrap();
                out.push_str(&format!(
                    "{}{name}: {{ token: \"file:{}\" }}\n",
                    &c[1],
                    file.display()
                ));
                agents.insert(name, token);
                continue;
            }
            match (&current, from.captures(line)) {
                (Some(name), Some(c)) if in_secrets => {
                    let value = format!("real-{name}-value-{:016x}", rand::random::<u64>());
                    let file = secrets.join(name);
                    std::fs::write(&file, &value).unwrap();
                    values.insert(name.clone(), value);
                    out.push_str(&format!("{}from: file:{}\n", &c[1], file.display()));
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        std::fs::write(rules.join(path.file_name().unwrap()), out).unwrap();
    }
    ExampleRules {
        dir,
        values,
        agents,
    }
}
