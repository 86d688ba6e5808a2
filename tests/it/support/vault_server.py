"""A Vault test server: the HashiCorp Vault HTTP API's KV v2 read and AppRole login, as
Vault documents them, over HTTPS (no Vault-API-compatible server is packaged for PyPI,
npm, crates.io or Debian, so the tests serve these responses themselves).

Usage: vault_server.py CERT KEY CONFIG LOG

CONFIG (JSON): {"role_id", "secret_id", "lease_duration", "tokens": [static tokens],
"secrets": {"MOUNT/data/PATH": {key: value}}}. Endpoints:

- POST /v1/auth/approle/login {"role_id", "secret_id"}: 200 with auth.client_token and
  auth.lease_duration (a new token per login), or 400 {"errors":["invalid role or secret ID"]}.
- GET /v1/MOUNT/data/PATH with X-Vault-Token: 200 with data.data and data.metadata;
  403 {"errors":["permission denied"]} for an unknown token; 404 {"errors":[]} for no secret.

Every request is appended to LOG as one JSON line (method, path, token, namespace). Prints
`listening on PORT` once it serves on a free loopback port.
"""

import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

cert, key, config_path, log_path = sys.argv[1:5]
with open(config_path) as f:
    config = json.load(f)
tokens = set(config.get("tokens", []))
lock = threading.Lock()
logins = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def record(self):
        entry = {
            "method": self.command,
            "path": self.path,
            "token": self.headers.get("X-Vault-Token"),
            "namespace": self.headers.get("X-Vault-Namespace"),
        }
        with lock, open(log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")

    def do_POST(self):
        global logins
        self.record()
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        if self.path != "/v1/auth/approle/login":
            return self.answer(404, {"errors": []})
        if body.get("role_id") != config.get("role_id") or body.get(
            "secret_id"
        ) != config.get("secret_id"):
            return self.answer(400, {"errors": ["invalid role or secret ID"]})
        with lock:
            logins += 1
            token = f"hvs.approle-{logins}-5c4b3a"
            tokens.add(token)
        lease = config.get("lease_duration", 2764800)
        self.answer(
            200,
            {
                "request_id": f"login-{logins}",
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": None,
                "wrap_info": None,
                "warnings": None,
                "auth": {
                    "client_token": token,
                    "accessor": f"accessor-{logins}",
                    "policies": ["default", "github-read"],
                    "token_policies": ["default", "github-read"],
                    "metadata": {"role_name": "keyward"},
                    "lease_duration": lease,
                    "renewable": True,
                    "entity_id": "",
                    "token_type": "service",
                    "orphan": True,
                },
            },
        )

    def do_GET(self):
        self.record()
        if self.headers.get("X-Vault-Token") not in tokens:
            return self.answer(403, {"errors": ["permission denied"]})
        path = self.path.split("?")[0].removeprefix("/v1/")
        secret = config.get("secrets", {}).get(path)
        if secret is None:
            return self.answer(404, {"errors": []})
        self.answer(
            200,
            {
                "request_id": "read",
                "lease_id": "",
                "renewable": False,
                "lease_duration": 0,
                "data": {
                    "data": secret,
                    "metadata": {
                        "created_time": "2026-12-03T10:00:00.000000Z",
                        "custom_metadata": None,
                        "deletion_time": "",
                        "destroyed": False,
                        "version": 1,
                    },
                },
                "wrap_info": None,
                "warnings": None,
                "auth": None,
            },
        )


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening on {server.server_address[1]}", flush=True)
server.serve_forever()
