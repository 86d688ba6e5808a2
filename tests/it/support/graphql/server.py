"""A small GraphQL server for keyward's integration tests: graphql-core executes a schema
of a viewer, repositories, comments and repository deletion, over plain HTTP on
127.0.0.1 (a free port, printed on the first line of stdout).

It accepts what GraphQL servers accept: POST application/json (one request object or a
batch array), POST application/graphql, and GET ?query=&operationName=&variables=.
Every operation it executes is recorded; GET /executed answers the record as JSON, so a
test can assert that a denied operation never ran.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    FieldNode,
    get_operation_ast,
    graphql_sync,
    parse,
)

EXECUTED = []
LOCK = threading.Lock()

USER = GraphQLObjectType("User", {"login": GraphQLField(GraphQLString)})
REPO = GraphQLObjectType("Repository", {"name": GraphQLField(GraphQLString)})
COMMENT = GraphQLObjectType("Comment", {"body": GraphQLField(GraphQLString)})

SCHEMA = GraphQLSchema(
    query=GraphQLObjectType(
        "Query",
        {
            "viewer": GraphQLField(USER, resolve=lambda *_: {"login": "octocat"}),
            "repository": GraphQLField(
                REPO,
                args={"name": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=lambda _o, _i, name: {"name": name},
            ),
        },
    ),
    mutation=GraphQLObjectType(
        "Mutation",
        {
            "addComment": GraphQLField(
                COMMENT,
                args={"body": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=lambda _o, _i, body: {"body": body},
            ),
            "deleteRepository": GraphQLField(
                GraphQLBoolean,
                args={"name": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=lambda *_a, **_k: True,
            ),
        },
    ),
)


def record(query, operation_name):
    """Notes the operation about to run: its type, name and top-level field names."""
    try:
        op = get_operation_ast(parse(query), operation_name)
    except Exception:  # an invalid document is answered by graphql_sync itself
        return
    if not isinstance(op, OperationDefinitionNode):
        return
    fields = [s.name.value for s in op.selection_set.selections if isinstance(s, FieldNode)]
    with LOCK:
        EXECUTED.append(
            {
                "operation": op.operation.value,
                "name": op.name.value if op.name else None,
                "fields": fields,
            }
        )


def execute(request):
    """Runs one request object; the GraphQL response as a dict."""
    query = request.get("query")
    if query is None:
        return {"errors": [{"message": "PersistedQueryNotFound"}]}
    name = request.get("operationName")
    record(query, name)
    result = graphql_sync(SCHEMA, query, variable_values=request.get("variables"), operation_name=name)
    return result.formatted


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/executed":
            with LOCK:
                return self.answer(200, list(EXECUTED))
        params = {k: v[0] for k, v in parse_qs(url.query).items()}
        if "variables" in params:
            params["variables"] = json.loads(params["variables"])
        self.answer(200, execute(params))

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        kind = (self.headers.get("content-type") or "").split(";")[0].strip()
        if kind == "application/graphql":
            return self.answer(200, execute({"query": body.decode()}))
        doc = json.loads(body)
        if isinstance(doc, list):
            return self.answer(200, [execute(item) for item in doc])
        self.answer(200, execute(doc))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
