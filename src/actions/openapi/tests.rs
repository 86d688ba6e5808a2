use serde_json::{Value, json};

use super::*;
use crate::actions::testing::compile;

/// A GitHub-style issues API: path parameters shared by a path item, a query enum, a JSON
/// body through `$ref`, keywords outside the subset, a header parameter, an operation without
/// an id, and a form-encoded body.
const SPEC: &str = r##"
openapi: 3.0.3
info: { title: GitHub, version: "1.1" }
servers: [{ url: "https://api.github.com/" }]
paths:
  /repos/{owner}/{repo}/issues:
    parameters:
      - { name: owner, in: path, required: true, schema: { type: string } }
      - { name: repo, in: path, required: true, schema: { type: string } }
    get:
      operationId: listIssues
      summary: List repository issues
      parameters:
        - name: state
          in: query
          schema: { type: string, enum: [open, closed, all], default: open }
        - { name: per_page, in: query, schema: { type: integer, minimum: 1, maximum: 100 } }
        - { name: X-GitHub-Api-Version, in: header, schema: { type: string } }
      responses:
        "200": { description: ok }
    post:
      operationId: createIssue
      summary: Create an issue
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewIssue" }
      responses:
        "201":
          description: created
          content:
            application/json:
              schema:
                type: object
                properties: { number: { type: integer }, html_url: { type: string } }
  /markdown:
    post:
      summary: no id
      responses: { "200": { description: ok } }
  /upload:
    post:
      operationId: uploadAsset
      requestBody:
        content: { application/octet-stream: { schema: { type: string } } }
      responses: { "200": { description: ok } }
components:
  schemas:
    NewIssue:
      type: object
      required: [title]
      properties:
        title: { type: string, maxLength: 256 }
        body: { type: string, format: markdown }
        labels: { type: array, items: { type: string }, maxItems: 10 }
        milestone: { oneOf: [{ type: string }, { type: integer }] }
"##;

fn doc() -> Value {
    serde_saphyr::from_str(SPEC).unwrap()
}

#[test]
fn a_github_style_spec_drafts_actions_that_compile() {
    let draft = draft(&doc(), "github.yaml", &Options::default()).unwrap();
    let set = compile(&draft.yaml).unwrap_or_else(|e| panic!("{e}\n{}", draft.yaml));
    let names: Vec<&str> = set.actions().iter().map(|a| a.name()).collect();
    assert_eq!(
        names,
        ["git_hub.list_issues", "git_hub.create_issue"],
        "{}",
        draft.yaml
    );
    assert_eq!(draft.skipped.len(), 2, "{:?}", draft.skipped);
    assert!(
        draft
            .yaml
            .contains("# not imported: POST /markdown: no operationId")
    );
    assert!(
        draft
            .yaml
            .contains("uploadAsset: a request body that is not application/json")
    );
    assert!(
        draft.yaml.contains("header parameter X-GitHub-Api-Version"),
        "{}",
        draft.yaml
    );
    assert!(draft.yaml.contains("body.body.format"), "{}", draft.yaml);

    let create = &set.actions()[1];
    let input = json!({"owner": "acme", "repo": "web", "title": "Crash", "labels": ["bug"]});
    create.input().validate(&input).unwrap();
    let req = create.build(&input).unwrap();
    assert_eq!(req.method(), "POST");
    assert_eq!(req.uri(), "https://api.github.com/repos/acme/web/issues");
    let body: Value = serde_json::from_slice(req.body()).unwrap();
    assert_eq!(body, json!({"title": "Crash", "labels": ["bug"]}));
    assert!(
        create
            .input()
            .validate(&json!({"owner": "a", "repo": "b"}))
            .is_err(),
        "title is required"
    );

    let list = &set.actions()[0];
    let input = json!({"owner": "acme", "repo": "web", "state": "closed", "per_page": 5});
    let req = list.build(&input).unwrap();
    assert_eq!(
        req.uri(),
        "https://api.github.com/repos/acme/web/issues?state=closed&per_page=5"
    );
    let bad = list
        .input()
        .validate(&json!({"owner": "a", "repo": "b", "state": "mine"}));
    assert!(
        bad.unwrap_err().to_string().contains("/state"),
        "the enum is kept"
    );
    assert!(
        list.input()
            .validate(&json!({"owner": "a", "repo": "b", "per_page": 500}))
            .is_err()
    );
}

#[test]
fn only_prefix_and_server_are_honoured() {
    let options = Options {
        only: vec!["createIssue".into()],
        prefix: Some("gh".into()),
        server: Some("https://ghe.example.com/api/v3".into()),
    };
    let draft = draft(&doc(), "github.yaml", &options).unwrap();
    let set = compile(&draft.yaml).unwrap();
    assert_eq!(set.actions().len(), 1);
    assert_eq!(set.actions()[0].name(), "gh.create_issue");
    let input = json!({"owner": "o", "repo": "r", "title": "t"});
    let req = set.actions()[0].build(&input).unwrap();
    assert_eq!(req.uri(), "https://ghe.example.com/api/v3/repos/o/r/issues");
}

#[test]
fn documents_that_cannot_be_drafted_say_why() {
    let swagger = json!({"swagger": "2.0", "paths": {}});
    assert!(matches!(
        draft(&swagger, "s", &Options::default()),
        Err(ImportError::NotOpenApi(_))
    ));
    let relative = json!({"openapi": "3.1.0", "servers": [{"url": "/v1"}], "paths": {}});
    assert!(matches!(
        draft(&relative, "s", &Options::default()),
        Err(ImportError::NoServer)
    ));
    let none = Options {
        only: vec!["nope".into()],
        ..Options::default()
    };
    assert!(matches!(
        draft(&doc(), "s", &none),
        Err(ImportError::Nothing(_))
    ));
    let cyclic = json!({"openapi": "3.0.0", "servers": [{"url": "https://x.example"}],
        "paths": {"/a": {"post": {"operationId": "a", "requestBody": {"content": {"application/json":
            {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
        "components": {"schemas": {"A": {"$ref": "#/components/schemas/A"}}}});
    let err = draft(&cyclic, "s", &Options::default()).unwrap_err();
    assert!(err.to_string().contains("more than 16 deep"), "{err}");
}

#[test]
fn names_become_words() {
    assert_eq!(word("createIssue"), "create_issue");
    assert_eq!(word("X-GitHub-Api-Version"), "x_git_hub_api_version");
    assert_eq!(word("repos/list-for-org"), "repos_list_for_org");
    assert_eq!(word("2fa"), "op_2fa");
    assert_eq!(word("per_page"), "per_page");
}
