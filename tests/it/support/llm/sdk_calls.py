"""The official OpenAI and Anthropic SDKs through keyward (HTTPS_PROXY in the environment,
keyward's CA given as argv[1]): per provider a plain call, a streamed call, then a call the
spent token budget refuses. Prints one JSON object per call."""

import json
import sys

import anthropic
import openai

CA = sys.argv[1]
TIMEOUT = 20


def show(**fields):
    print(json.dumps(fields), flush=True)


def refused(provider, call):
    try:
        call()
        show(provider=provider, call="refused", status=200)
    except (openai.RateLimitError, anthropic.RateLimitError) as e:
        show(
            provider=provider,
            call="refused",
            status=e.status_code,
            retry_after=e.response.headers.get("retry-after"),
            body=e.response.json(),
        )


def openai_calls():
    client = openai.OpenAI(
        api_key="sk-test",
        max_retries=0,
        timeout=TIMEOUT,
        http_client=openai.DefaultHttpxClient(verify=CA),
    )
    messages = [{"role": "user", "content": "Say hi"}]
    r = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    show(provider="openai", call="plain", text=r.choices[0].message.content,
         input=r.usage.prompt_tokens, output=r.usage.completion_tokens)
    text, usage = "", None
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    show(provider="openai", call="stream", text=text,
         input=usage.prompt_tokens, output=usage.completion_tokens)
    refused("openai", lambda: client.chat.completions.create(model="gpt-4o-mini", messages=messages))


def anthropic_calls():
    client = anthropic.Anthropic(
        api_key="sk-ant-test",
        max_retries=0,
        timeout=TIMEOUT,
        http_client=anthropic.DefaultHttpxClient(verify=CA),
    )
    messages = [{"role": "user", "content": "Say hi"}]
    m = client.messages.create(model="claude-test", max_tokens=64, messages=messages)
    show(provider="anthropic", call="plain", text=m.content[0].text,
         input=m.usage.input_tokens, output=m.usage.output_tokens)
    with client.messages.stream(model="claude-test", max_tokens=64, messages=messages) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    show(provider="anthropic", call="stream", text=text,
         input=final.usage.input_tokens, output=final.usage.output_tokens)
    refused("anthropic", lambda: client.messages.create(model="claude-test", max_tokens=64, messages=messages))


openai_calls()
anthropic_calls()
