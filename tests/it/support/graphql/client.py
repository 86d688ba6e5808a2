"""A real GraphQL client (gql with its requests transport, and plain requests for what
gql refuses to send) run through keyward; prints one JSON line per case.

Usage: client.py URL   (HTTPS_PROXY and REQUESTS_CA_BUNDLE point at keyward)
"""

import json
import os
import sys

import requests
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

URL = sys.argv[1]
CA = os.environ["REQUESTS_CA_BUNDLE"]


def client():
    transport = RequestsHTTPTransport(url=URL, verify=CA, timeout=20, retries=0)
    return Client(transport=transport, fetch_schema_from_transport=False)


def case(name, run):
    try:
        out = {"case": name, "ok": run()}
    except TransportQueryError as e:
        out = {"case": name, "errors": e.errors}
    except Exception as e:  # reported, the test asserts on it
        out = {"case": name, "exception": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)


def raw(name, body):
    r = requests.post(URL, json=body, timeout=20)
    print(json.dumps({"case": name, "status": r.status_code, "body": r.json()}), flush=True)


case("query", lambda: client().execute(gql("query Who { viewer { login } me: viewer { login } }")))
case(
    "mutation",
    lambda: client().execute(gql('mutation Drop { gone: deleteRepository(name: "web") }')),
)
case(
    "batch",
    lambda: client().execute_batch(
        [
            GraphQLRequest(gql("{ viewer { login } }")),
            GraphQLRequest(gql('mutation { ...F } fragment F on Mutation { deleteRepository(name: "web") }')),
        ]
    ),
)
r = requests.get(URL, params={"query": "query ByGet { repository(name: \"web\") { name } }"}, timeout=20)
print(json.dumps({"case": "get", "status": r.status_code, "body": r.json()}), flush=True)
r = requests.post(
    URL,
    data='mutation { deleteRepository(name: "web") }',
    headers={"content-type": "application/graphql"},
    timeout=20,
)
print(json.dumps({"case": "document", "status": r.status_code, "body": r.json()}), flush=True)
raw(
    "batch_raw",
    [{"query": "{ viewer { login } }"}, {"query": 'mutation { deleteRepository(name: "web") }'}],
)
raw("invalid", {"query": "query { viewer { login }"})
raw(
    "apq_mismatch",
    {
        "query": "{ viewer { login } }",
        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
    },
)
