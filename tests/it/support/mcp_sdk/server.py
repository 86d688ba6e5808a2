"""An MCP server built with the official Python SDK (MCPServer, streamable HTTP) for
keyward's integration tests: HTTPS on a loopback port of its own, three tools, and a log
line (JSON) for every tool call it executes.

Usage: server.py CERT KEY LOG HOST
Binds 127.0.0.1:0, prints "listening on PORT" once the socket listens, then serves
https://HOST/mcp until killed.
"""

import json
import socket
import sys

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings


def main() -> None:
    cert, key, log_path, host = sys.argv[1:5]
    server = MCPServer("keyward-test-github")

    def executed(tool: str, arguments: dict) -> None:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")

    @server.tool()
    def search_issues(owner: str, repo: str, query: str) -> str:
        """Searches a repository's issues."""
        executed("search_issues", {"owner": owner, "repo": repo, "query": query})
        return f"2 issues in {owner}/{repo} match {query!r}"

    @server.tool()
    def delete_repo(owner: str, repo: str) -> str:
        """Deletes a repository."""
        executed("delete_repo", {"owner": owner, "repo": repo})
        return f"deleted {owner}/{repo}"

    @server.tool()
    def create_issue(owner: str, repo: str, title: str) -> str:
        """Opens an issue."""
        executed("create_issue", {"owner": owner, "repo": repo, "title": title})
        return f"opened {owner}/{repo}#7: {title}"

    # The Host header names the public-looking name keyward connected for, so the SDK's DNS
    # rebinding protection is told to accept exactly that name.
    security = TransportSecuritySettings(allowed_hosts=[host, f"{host}:*"])
    app = server.streamable_http_app(transport_security=security)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(
        app, ssl_certfile=cert, ssl_keyfile=key, log_level="warning", lifespan="on"
    )
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    anyio.run(uvicorn.Server(config).serve, [sock])


if __name__ == "__main__":
    main()
