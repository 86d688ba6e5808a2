//! Printing the agent environment for a shell (`sh`, `fish`), a `.env` file (`dotenv`), a
//! container (`docker`: `--env-file` lines) or a program (`json`), each quoted so that any
//! value comes back byte for byte.

/// How `keyward env` prints the variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvFormat {
    /// `export K='v'` lines for sh, bash, zsh (`eval "$(keyward env)"`).
    Sh,
    /// `set -gx K 'v'` lines for fish (`keyward env --format fish | source`).
    Fish,
    /// `K="v"` lines for .env files (double quotes, `\` `"` `$` escaped).
    Dotenv,
    /// `K=v` lines for `docker run --env-file` (taken literally: no quotes, no newlines).
    Docker,
    /// One JSON object of strings.
    Json,
}

/// A value the format cannot carry.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{name}: docker --env-file values cannot contain a newline")]
    Newline { name: String },
    #[error("{name}: not a valid variable name")]
    Name { name: String },
}

/// The variables as text in `format`, one per line (JSON: one object).
pub fn render(format: EnvFormat, env: &[(String, String)]) -> Result<String, FormatError> {
    for (name, _) in env {
        if !valid_name(name) {
            return Err(FormatError::Name { name: name.clone() });
        }
    }
    if format == EnvFormat::Json {
        let map: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let mut text = serde_json::Value::Object(map).to_string();
        text.push('\n');
        return Ok(text);
    }
    let mut out = String::new();
    for (name, value) in env {
        let line = match format {
            EnvFormat::Sh => format!("export {name}={}", sh_quote(value)),
            EnvFormat::Fish => format!("set -gx {name} {}", fish_quote(value)),
            EnvFormat::Dotenv => format!("{name}={}", dotenv_quote(value)),
            EnvFormat::Docker if value.contains(['\n', '\r']) => {
                return Err(FormatError::Newline { name: name.clone() });
            }
            EnvFormat::Docker | EnvFormat::Json => format!("{name}={value}"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    Ok(out)
}

/// `[A-Za-z_][A-Za-z0-9_]*`: what every shell accepts as a name.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// POSIX single quotes: nothing is special inside; a `'` is closed, escaped, reopened.
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// fish single quotes: only `\` and `'` are special, both escaped with `\`.
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// dotenv double quotes (python-dotenv, dotenv for Node, docker compose `env_file`).
fn dotenv_quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str(r"\$"),
            '\n' => out.push_str(r"\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(format: EnvFormat, value: &str) -> String {
        render(format, &[("K".to_owned(), value.to_owned())]).unwrap()
    }

    #[test]
    fn sh_survives_quotes_and_dollars() {
        assert_eq!(
            one(EnvFormat::Sh, "a'b $HOME"),
            "export K='a'\\''b $HOME'\n"
        );
    }

    #[test]
    fn sh_output_evaluates_back_to_the_value() {
        let value = "it's $(not run) `nor this` \\ \"q\"";
        let script = format!("{}printf %s \"$K\"", one(EnvFormat::Sh, value));
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), value);
    }

    #[test]
    fn fish_escapes_backslash_and_quote() {
        assert_eq!(one(EnvFormat::Fish, r"a\b'c"), "set -gx K 'a\\\\b\\'c'\n");
    }

    #[test]
    fn dotenv_escapes_what_expands() {
        assert_eq!(one(EnvFormat::Dotenv, "a\"$b\\"), "K=\"a\\\"\\$b\\\\\"\n");
    }

    #[test]
    fn docker_is_literal_and_refuses_newlines() {
        assert_eq!(one(EnvFormat::Docker, "a 'b' \"c\""), "K=a 'b' \"c\"\n");
        let err = render(EnvFormat::Docker, &[("K".into(), "a\nb".into())]);
        assert!(matches!(err, Err(FormatError::Newline { .. })));
    }

    #[test]
    fn json_is_one_object() {
        let text = render(
            EnvFormat::Json,
            &[("A".into(), "1".into()), ("B".into(), "x\"y".into())],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["B"], "x\"y");
    }

    #[test]
    fn invalid_names_are_refused() {
        let err = render(EnvFormat::Sh, &[("A;rm -rf".into(), "v".into())]);
        assert!(matches!(err, Err(FormatError::Name { .. })));
    }
}
