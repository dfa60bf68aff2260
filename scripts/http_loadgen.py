#!/usr/bin/env python3
"""A small load generator for rwkv-server's OpenAI-compatible HTTP API, the HTTP twin of
rwkv-loadgen's no-session mode: N concurrent streams, each running streamed completions
(POST /v1/completions, "stream": true, greedy, usage included) one after another; prints the
throughput (generated tokens per second over the run) and the time to first token (from the
request to the first chunk with text) at p50 and p99. Standard library only.

  scripts/http_loadgen.py --port 8080 --streams 8 --turns 4 --max-tokens 64

For the benchmark note that compares HTTP with gRPC (scripts/bench-http.sh runs both).
"""
import argparse
import http.client
import json
import threading
import time


def one_turn(port, body, headers, ttfts, tokens, errors, lock):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    start = time.monotonic()
    first = None
    generated = 0
    try:
        connection.request("POST", "/v1/completions", body=body, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]!r}")
        for raw in response:  # one line at a time; events are "data: ...\n\n"
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            event = json.loads(line[len("data: "):])
            if "error" in event:
                raise RuntimeError(event["error"]["message"])
            if first is None and event.get("choices") and event["choices"][0].get("text"):
                first = time.monotonic() - start
            if event.get("usage"):
                generated = event["usage"]["completion_tokens"]
    except Exception as error:  # counted, not fatal: the report says how many failed
        with lock:
            errors.append(str(error))
        return
    finally:
        connection.close()
    with lock:
        if first is not None:
            ttfts.append(first)
        tokens.append(generated)


def percentile(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--turns", type=int, default=4, help="measured completions per stream")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--prompt", default=(  # rwkv-loadgen's default prompt
        "The old lighthouse keeper climbed the narrow stairs every evening to light the lamp for "
        "passing ships."))
    parser.add_argument("--token", default="", help="bearer token (with --auth-tokens-file)")
    parser.add_argument("--markdown", action="store_true",
                        help="print one markdown table row (bench-http.sh) instead of JSON")
    args = parser.parse_args()

    body = json.dumps({"prompt": args.prompt, "max_tokens": args.max_tokens, "temperature": 0,
                       "stream": True, "stream_options": {"include_usage": True}})
    headers = {"Content-Type": "application/json"}
    if args.token:
        headers["Authorization"] = f"Bearer {args.token}"
    ttfts, tokens, errors = [], [], []
    lock = threading.Lock()

    def user():
        for _ in range(args.turns):
            one_turn(args.port, body, headers, ttfts, tokens, errors, lock)

    threads = [threading.Thread(target=user) for _ in range(args.streams)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    report = {
        "streams": args.streams,
        "requests": len(tokens),
        "errors": len(errors),
        "tokens_per_s": round(sum(tokens) / elapsed, 1),
        "ttft_p50_ms": round(percentile(ttfts, 0.50) * 1000, 1),
        "ttft_p99_ms": round(percentile(ttfts, 0.99) * 1000, 1),
        "first_error": errors[0] if errors else None,
    }
    if not args.markdown:
        print(json.dumps(report))
        return
    failed = f" ({len(errors)} failed)" if errors else ""
    print(f"| {args.streams} | HTTP{failed} | {report['tokens_per_s']:.0f} | "
          f"{report['ttft_p50_ms']:.1f} | {report['ttft_p99_ms']:.1f} |")


if __name__ == "__main__":
    main()
