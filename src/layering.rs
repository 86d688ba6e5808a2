//! The layering of the request path, checked on the source: a layer uses the ones below it
//! and never one above (`ingress` → `pipeline` → `server`; `control` below them all), so no
//! import circle can form between them.

use std::path::{Path, PathBuf};

/// Each layer, and the layers its files must not name.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("server", &["ingress", "pipeline", "control", "proxy"]),
    ("pipeline", &["ingress", "proxy"]),
    ("control", &["ingress", "pipeline", "server", "proxy"]),
    ("ingress", &["proxy"]),
    (
        "policy",
        &["ingress", "pipeline", "server", "control", "proxy"],
    ),
];

/// `src/NAME.rs` and every file below `src/NAME/`.
fn layer_files(src: &Path, name: &str) -> Vec<PathBuf> {
    let mut files = vec![src.join(format!("{name}.rs"))];
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn no_layer_names_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (layer, above) in FORBIDDEN {
        let files = layer_files(&src, layer);
        assert!(files.len() > 1, "layer {layer} has no files under src/");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                for other in *above {
                    let named = format!("crate::{other}");
                    let at = line.find(&named);
                    let whole = at.is_some_and(|i| {
                        !line[i + named.len()..]
                            .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    if whole {
                        found.push(format!("{}:{}: {line}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "layers name layers above them:\n{}",
        found.join("\n")
    );
}
