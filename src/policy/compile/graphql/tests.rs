//! Compile errors of `graphql:` selectors.
