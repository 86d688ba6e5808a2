//! GraphQL request reading and the `graphql:` selector.
