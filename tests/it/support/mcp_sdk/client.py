"""An MCP client built with the official Python SDK, for keyward's integration tests: it
goes through the proxy named by HTTPS_PROXY (trusting SSL_CERT_FILE) to the MCP endpoint
URL, and prints one JSON object saying what each step got.

Usage: client.py URL MODE
MODE is the SDK's connect mode: `legacy` (the initialize handshake, so the server opens a
session) or `auto` (the SDK's default: it probes `server/discover` first and falls back to
the handshake when that fails).
Steps: connect (printed as "initialize"), list the tools, call
search_issues (allowed), call delete_repo by name although the list hid it (denied), send a
JSON-RPC batch with raw httpx2 carrying the session id (the SDK sends no batches), send a
search_issues call whose Mcp-Name header names delete_repo, then call create_issue, which
keyward holds until it is approved.
"""

import json
import sys

import anyio
import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# The whole run's bound; every step is far quicker unless something hangs.
RUN_TIMEOUT = 60


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def error_of(error: MCPError) -> dict:
    return {"code": error.error.code, "message": error.error.message, "data": error.error.data}


def step(name: str, value) -> None:
    # One line per step, so a test that fails midway still shows how far the client came.
    print(json.dumps({"step": name, "value": value}), flush=True)


async def run(url: str, mode: str) -> None:
    session = {}

    async def remember_session(response: httpx2.Response) -> None:
        if sid := response.headers.get("mcp-session-id"):
            session["id"] = sid

    http = create_mcp_http_client()
    http.event_hooks["response"].append(remember_session)
    async with http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            initialized = client.session.initialize_result
            step("initialize", {
                "server": initialized.server_info.name if initialized else None,
                "protocol": client.session.protocol_version,
                "session": session.get("id"),
            })
            tools = await client.list_tools()
            step("tools", sorted(t.name for t in tools.tools))
            found = await client.call_tool(
                "search_issues", {"owner": "acme", "repo": "web", "query": "login bug"}
            )
            step("search_issues", {"text": text_of(found), "is_error": found.is_error})
            try:
                deleted = await client.call_tool("delete_repo", {"owner": "acme", "repo": "web"})
                step("delete_repo", {"unexpected": text_of(deleted)})
            except MCPError as denied:
                step("delete_repo", error_of(denied))
            batch = [
                {"jsonrpc": "2.0", "id": "b1", "method": "tools/call",
                 "params": {"name": "search_issues",
                            "arguments": {"owner": "acme", "repo": "web", "query": "batch"}}},
                {"jsonrpc": "2.0", "id": "b2", "method": "tools/call",
                 "params": {"name": "delete_repo", "arguments": {"owner": "acme", "repo": "web"}}},
            ]
            headers = {
                "accept": "application/json, text/event-stream",
                "mcp-protocol-version": client.session.protocol_version,
            }
            if "id" in session:
                headers["mcp-session-id"] = session["id"]
            answer = await http.post(url, json=batch, headers=headers)
            step("batch", {"status": answer.status_code,
                           "decision": answer.headers.get("keyward-decision"),
                           "body": answer.json()})
            # Headers that mirror another call than the body's (a gateway may route by them).
            mirrored = {"jsonrpc": "2.0", "id": "m1", "method": "tools/call",
                        "params": {"name": "search_issues",
                                   "arguments": {"owner": "acme", "repo": "web", "query": "mirrored"}}}
            answer = await http.post(url, json=mirrored, headers={
                **headers, "mcp-method": "tools/call", "mcp-name": "delete_repo"})
            step("mirrored", {"status": answer.status_code,
                              "decision": answer.headers.get("keyward-decision"),
                              "body": answer.json()})
            step("create_issue", "sent")
            created = await client.call_tool(
                "create_issue", {"owner": "acme", "repo": "web", "title": "Login fails"}
            )
            step("create_issue", {"text": text_of(created), "is_error": created.is_error})


def main() -> None:
    async def bounded() -> None:
        with anyio.fail_after(RUN_TIMEOUT):
            await run(sys.argv[1], sys.argv[2])

    anyio.run(bounded)
    step("done", True)


if __name__ == "__main__":
    main()
