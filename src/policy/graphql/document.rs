//! A GraphQL document read with apollo-parser: the operation a request runs, its type, its
//! name and its top-level fields (through fragment spreads and inline fragments).

use std::collections::HashMap;

use apollo_parser::Parser;
use apollo_parser::cst::{self, Definition, Selection};

use super::OperationType;

/// Deepest nesting of selections, lists and objects the parser follows; deeper documents
/// are denied (a deep document is a denial-of-service pattern, not a real query).
pub const MAX_DEPTH: usize = 64;

/// Most tokens of one document; a longer one is denied.
pub const MAX_TOKENS: usize = 50_000;

/// Most fragment spreads followed while collecting top-level fields, so that fragments
/// spreading each other many times cannot make the walk explode.
const MAX_SPREADS: usize = 1_000;

/// The field every type has, which selects nothing on the server: not counted.
const TYPENAME: &str = "__typename";

/// The operation of a document that a request runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// `query`, `mutation` or `subscription` (the `{ … }` shorthand is a query).
    pub kind: OperationType,
    /// Its name, when it has one.
    pub name: Option<String>,
    /// The real names (not aliases) of its top-level fields, in document order, each once.
    pub fields: Vec<String>,
}

/// Parses `source` and picks the operation `operation_name` names (or the only one);
/// `Err` carries the parser's message or why no single operation is chosen.
pub fn operation(source: &str, operation_name: Option<&str>) -> Result<Operation, String> {
    let tree = Parser::new(source)
        .recursion_limit(MAX_DEPTH)
        .token_limit(MAX_TOKENS)
        .parse();
    if let Some(error) = tree.errors().next() {
        return Err(if error.is_limit() {
            format!(
                "the GraphQL document is over keyward's limits ({MAX_DEPTH} levels, {MAX_TOKENS} tokens): {}",
                error.message()
            )
        } else {
            format!(
                "invalid GraphQL document: {} at byte {}",
                error.message(),
                error.index()
            )
        });
    }
    let mut operations = Vec::new();
    let mut fragments = HashMap::new();
    for definition in tree.document().definitions() {
        match definition {
            Definition::OperationDefinition(op) => operations.push(op),
            Definition::FragmentDefinition(fragment) => {
                let name = fragment_name(fragment.fragment_name())?;
                if fragments.insert(name.clone(), fragment).is_some() {
                    return Err(format!("fragment `{name}` is defined twice"));
                }
            }
            _ => {
                return Err(
                    "the GraphQL document has a type-system definition (a request carries operations and fragments only)"
                        .to_owned(),
                );
            }
        }
    }
    let chosen = choose(&operations, operation_name)?;
    let kind = match chosen.operation_type() {
        None => OperationType::Query,
        Some(t) if t.mutation_token().is_some() => OperationType::Mutation,
        Some(t) if t.subscription_token().is_some() => OperationType::Subscription,
        Some(_) => OperationType::Query,
    };
    let mut walk = Walk {
        fragments: &fragments,
        visiting: Vec::new(),
        spreads: 0,
        fields: Vec::new(),
    };
    let Some(set) = chosen.selection_set() else {
        return Err("the GraphQL operation has no selection set".to_owned());
    };
    walk.collect(&set)?;
    Ok(Operation {
        kind,
        name: chosen.name().map(|n| n.text().to_string()),
        fields: walk.fields,
    })
}

/// The operation `name` picks: operation names must be unique, and a document of several
/// operations needs a name that is one of them.
fn choose<'d>(
    operations: &'d [cst::OperationDefinition],
    name: Option<&str>,
) -> Result<&'d cst::OperationDefinition, String> {
    let names: Vec<Option<String>> = operations
        .iter()
        .map(|op| op.name().map(|n| n.text().to_string()))
        .collect();
    for (i, n) in names.iter().enumerate() {
        if let Some(n) = n
            && names[..i].iter().any(|m| m.as_ref() == Some(n))
        {
            return Err(format!("operation `{n}` is defined twice"));
        }
    }
    match (operations, name) {
        ([], _) => Err("the GraphQL document has no operation".to_owned()),
        (_, Some(wanted)) => names
            .iter()
            .position(|n| n.as_deref() == Some(wanted))
            .and_then(|i| operations.get(i))
            .ok_or_else(|| format!("operationName `{wanted}` names no operation of the document")),
        ([only], None) => Ok(only),
        (many, None) => Err(format!(
            "the GraphQL document has {} operations and no operationName picks one",
            many.len()
        )),
    }
}

/// The name of a fragment definition or spread.
fn fragment_name(name: Option<cst::FragmentName>) -> Result<String, String> {
    name.and_then(|n| n.name())
        .map(|n| n.text().to_string())
        .ok_or_else(|| "a fragment without a name".to_owned())
}

/// The walk over an operation's top-level selections.
struct Walk<'d> {
    /// The document's fragments by name.
    fragments: &'d HashMap<String, cst::FragmentDefinition>,
    /// The fragments being expanded (a spread of one of them is a cycle).
    visiting: Vec<String>,
    /// Spreads followed so far (bounded by [`MAX_SPREADS`]).
    spreads: usize,
    /// The fields found.
    fields: Vec<String>,
}

impl Walk<'_> {
    /// Adds the fields of one selection set, expanding fragments at this level.
    fn collect(&mut self, set: &cst::SelectionSet) -> Result<(), String> {
        for selection in set.selections() {
            match selection {
                Selection::Field(field) => {
                    let Some(name) = field.name() else {
                        return Err("a field without a name".to_owned());
                    };
                    let name = name.text().to_string();
                    if name != TYPENAME && !self.fields.contains(&name) {
                        self.fields.push(name);
                    }
                }
                Selection::InlineFragment(inline) => {
                    if let Some(inner) = inline.selection_set() {
                        self.collect(&inner)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = fragment_name(spread.fragment_name())?;
                    self.spread(&name)?;
                }
            }
        }
        Ok(())
    }

    /// Expands one fragment spread.
    fn spread(&mut self, name: &str) -> Result<(), String> {
        self.spreads += 1;
        if self.spreads > MAX_SPREADS {
            return Err(format!(
                "the GraphQL operation spreads fragments more than {MAX_SPREADS} times"
            ));
        }
        if self.visiting.len() >= MAX_DEPTH {
            return Err(format!(
                "the GraphQL operation nests fragments deeper than {MAX_DEPTH}"
            ));
        }
        if self.visiting.iter().any(|v| v == name) {
            return Err(format!("fragment `{name}` spreads itself"));
        }
        let fragments = self.fragments;
        let Some(set) = fragments.get(name).and_then(|f| f.selection_set()) else {
            return Err(format!("unknown fragment `{name}`"));
        };
        self.visiting.push(name.to_owned());
        let result = self.collect(&set);
        self.visiting.pop();
        result
    }
}
