//! Compile errors: every problem found in the rule files, each with `file:line:col`.

use std::fmt;
use std::path::PathBuf;

use serde_saphyr::{Location, Spanned};

/// A position in a rule file (1-based line and column; 0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// The rule file, as given to the compiler.
    pub file: PathBuf,
    /// 1-based line, 0 when the position is unknown (e.g. an unreadable file).
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
}

impl Pos {
    /// A position from a serde-saphyr location inside `file`.
    pub(crate) fn at(file: &std::path::Path, location: &Location) -> Self {
        Self {
            file: file.to_path_buf(),
            line: location.line(),
            column: location.column(),
        }
    }

    /// The position where a spanned value was written.
    pub(crate) fn of<T>(file: &std::path::Path, spanned: &Spanned<T>) -> Self {
        Self::at(file, &spanned.referenced)
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

/// One problem in the rule files.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct CompileError {
    /// Where the problem is.
    pub pos: Pos,
    /// What is wrong, naming the offending value.
    pub message: String,
}

/// Every problem found in one compile, sorted by file and position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct CompileErrors(pub Vec<CompileError>);

impl CompileErrors {
    /// The individual errors.
    pub fn errors(&self) -> &[CompileError] {
        &self.0
    }
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Collects errors during a compile pass.
#[derive(Default)]
pub(crate) struct Errors(Vec<CompileError>);

impl Errors {
    /// Records a problem at `pos`.
    pub(crate) fn push(&mut self, pos: Pos, message: impl Into<String>) {
        self.0.push(CompileError {
            pos,
            message: message.into(),
        });
    }

    /// How many errors were recorded.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Ok when nothing was recorded, else every error sorted by position.
    pub(crate) fn finish(mut self) -> Result<(), CompileErrors> {
        if self.0.is_empty() {
            return Ok(());
        }
        self.0.sort_by(|a, b| a.pos.cmp(&b.pos));
        Err(CompileErrors(self.0))
    }
}
