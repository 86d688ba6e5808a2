//! Test helpers: compile rule-file text holding actions.

use crate::actions::Action;
use crate::policy::{CompileErrors, RuleSet, Source};

/// Compiles one file `t.yaml`.
pub(crate) fn compile(text: &str) -> Result<RuleSet, CompileErrors> {
    RuleSet::compile(&[Source {
        path: "t.yaml".into(),
        text: text.into(),
    }])
}

/// The errors of one file, one per line.
pub(crate) fn errors(text: &str) -> String {
    match compile(text) {
        Ok(_) => panic!("compiled without errors:\n{text}"),
        Err(e) => e.to_string(),
    }
}

/// An action `t.act` with `input` (YAML lines indented by 4) and `url`.
pub(crate) fn action(input: &str, url: &str, extra: &str) -> Action {
    let text = format!(
        "actions:\n  - name: t.act\n    description: test\n    input:\n{input}\n    request:\n      method: POST\n      url: {url}\n{extra}"
    );
    let set = compile(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    set.actions()[0].clone()
}
