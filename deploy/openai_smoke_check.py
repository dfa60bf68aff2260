#!/usr/bin/env python3
"""Smoke check of rwkv-server's OpenAI-compatible HTTP API (deploy/smoke-test.sh, step 8).

  deploy/openai_smoke_check.py BASE_URL [CA_FILE|-] [TOKEN_FILE|-]

BASE_URL is http://HOST:PORT or https://HOST:PORT; CA_FILE is the certificate to trust for
https; TOKEN_FILE holds a bearer token ("-": none; the refused call below is then skipped).
Checks: GET /v1/models lists one model; a greedy, non-streamed POST /v1/chat/completions
(max_tokens 8, temperature 0) answers 200 with a chat.completion of OpenAI's shape; with a token
file, the same call without the token is 401 with an OpenAI-shaped error. Standard library only
(the host running the smoke test has python3, nothing more). Exit 0 when all pass, 1 otherwise.
"""
import json
import ssl
import sys
import urllib.error
import urllib.request


def call(base, path, context, token, body=None):
    """(status, parsed JSON body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(base + path, method="POST" if body is not None else "GET")
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def expect(condition, what, got):
    if not condition:
        raise AssertionError(f"{what}; got {json.dumps(got)[:600]}")


def check(base, context, token):
    status, models = call(base, "/v1/models", context, token)
    expect(status == 200, f"GET /v1/models: status {status}", models)
    expect(models.get("object") == "list" and len(models.get("data", [])) == 1,
           "GET /v1/models: a list of one model", models)
    model = models["data"][0]
    expect(model.get("object") == "model" and isinstance(model.get("id"), str) and model["id"],
           "GET /v1/models: a model with an id", models)

    chat = {"model": model["id"], "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "Say hello."}]}
    status, reply = call(base, "/v1/chat/completions", context, token, chat)
    expect(status == 200, f"POST /v1/chat/completions: status {status}", reply)
    expect(reply.get("object") == "chat.completion" and isinstance(reply.get("id"), str),
           "a chat.completion with an id", reply)
    choices = reply.get("choices", [])
    expect(len(choices) == 1, "one choice", reply)
    message = choices[0].get("message", {})
    expect(message.get("role") == "assistant" and isinstance(message.get("content"), str),
           "an assistant message with text content", reply)
    expect(choices[0].get("finish_reason") in ("stop", "length"), "finish_reason stop or length",
           reply)
    usage = reply.get("usage", {})
    expect(all(isinstance(usage.get(k), int)
               for k in ("prompt_tokens", "completion_tokens", "total_tokens")),
           "usage with token counts", reply)
    expect(1 <= usage["completion_tokens"] <= 8 and usage["prompt_tokens"] > 0 and
           usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"],
           "usage: 1 to 8 completion tokens, total = prompt + completion", reply)
    print(f"  /v1/models: {model['id']}; chat completion: {message['content']!r} "
          f"({choices[0]['finish_reason']}, {usage['completion_tokens']} tokens)")

    if token:
        status, refused = call(base, "/v1/chat/completions", context, None, chat)
        expect(status == 401, f"without a token: status {status}, not 401", refused)
        error = (refused or {}).get("error", {})
        expect(isinstance(error.get("message"), str) and
               error.get("type") == "authentication_error",
               "without a token: an OpenAI-shaped authentication_error", refused)
        print("  without a token: 401 authentication_error")


def main(argv):
    if len(argv) < 2 or len(argv) > 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    base = argv[1].rstrip("/")
    ca_file = argv[2] if len(argv) > 2 and argv[2] != "-" else None
    token_file = argv[3] if len(argv) > 3 and argv[3] != "-" else None
    context = ssl.create_default_context(cafile=ca_file) if base.startswith("https:") else None
    token = open(token_file).read().strip() if token_file else None
    try:
        check(base, context, token)
    except (AssertionError, OSError, ValueError) as error:
        print(f"openai_smoke_check: {base}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
