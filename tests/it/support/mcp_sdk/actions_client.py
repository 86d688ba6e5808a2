"""An MCP client built with the official Python SDK that uses keyward's actions listener
directly (streamable HTTP, no proxy), for keyward's integration tests; it prints one JSON
object per step.

Usage: actions_client.py http URL AUTHORIZATION CALLS
       actions_client.py stdio KEYWARD URL AGENT TOKEN CALLS
`http` speaks streamable HTTP to URL with the Authorization header's value (`-` for none);
`stdio` launches `KEYWARD mcp --url URL` with the agent's credentials in its environment and
speaks the SDK's stdio transport to it. CALLS is a JSON list of [name, arguments] pairs. Steps: connect ("initialize"), list the tools ("tools", their names
sorted, and "schemas"), then each call as "call0", "call1", … with its result or JSON-RPC error.
"""

import json
import sys

import anyio
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

# The whole run's bound; every step is far quicker unless something hangs.
RUN_TIMEOUT = 60


def step(name: str, value) -> None:
    # One line per step, so a test that fails midway still shows how far the client came.
    print(json.dumps({"step": name, "value": value}), flush=True)


async def run_http(url: str, authorization: str, calls: list) -> None:
    headers = {} if authorization == "-" else {"Authorization": authorization}
    http = create_mcp_http_client(headers=headers)
    async with http:
        await run(streamable_http_client(url, http_client=http), calls)


async def run_stdio(keyward: str, url: str, agent: str, token: str, calls: list) -> None:
    server = StdioServerParameters(
        command=keyward,
        args=["mcp", "--url", url],
        env={"KEYWARD_AGENT": agent, "KEYWARD_AGENT_TOKEN": token},
    )
    await run(stdio_client(server), calls)


async def run(transport, calls: list) -> None:
    async with Client(transport, mode="legacy", cache=None) as client:
        initialized = client.session.initialize_result
        step("initialize", initialized.server_info.name if initialized else None)
        tools = await client.list_tools()
        step("tools", sorted(t.name for t in tools.tools))
        step("schemas", {t.name: t.input_schema for t in tools.tools})
        for i, (name, arguments) in enumerate(calls):
            try:
                result = await client.call_tool(name, arguments)
                text = "".join(getattr(b, "text", "") for b in result.content)
                step(f"call{i}", {"structured": result.structured_content,
                                  "text": text, "is_error": result.is_error})
            except MCPError as refused:
                step(f"call{i}", {"code": refused.error.code,
                                  "message": refused.error.message,
                                  "data": refused.error.data})


def main() -> None:
    async def bounded() -> None:
        with anyio.fail_after(RUN_TIMEOUT):
            if sys.argv[1] == "http":
                await run_http(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
            else:
                args = sys.argv[2:6]
                await run_stdio(*args, json.loads(sys.argv[6]))

    anyio.run(bounded)
    step("done", True)


if __name__ == "__main__":
    main()
