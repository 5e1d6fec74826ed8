#!/usr/bin/env python3
"""scripts/bench soak: `provhost serve` in front of the emulator under mixed load for SOAK_SECONDS
(default 600): streamed and whole answers from every bundled provider, about 5% of requests meeting
an upstream fault of every kind the emulator has, about 5% of clients hanging up mid-answer.

Every answer must be the full text or a proper error (an OpenAI error object with an error status,
or an error event then [DONE] inside a stream); serve must never crash; its RSS and descriptor count
must come back to their baseline after the load. Prints the totals; exits 1 when any check fails."""
import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

FAULTS = ["rate_limit", "cloudflare", "server_error", "bad_gateway", "reset", "truncate", "cut", "malformed", "stall"]
# Koala's and FlowGpt's protocols have no end marker: a body that ends cleanly half-way ("truncate")
# is, for them, a shorter answer that nobody can tell from a whole one. It is not injected there.
NO_END_MARKER = {"koala", "flowgpt"}


def start(argv, env=None):
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env, text=True)
    line = process.stdout.readline()
    if not line.startswith("listening on http://"):
        sys.exit(f"{argv[0]} did not start: {line!r}")
    host, port = line.split("http://", 1)[1].strip().rsplit(":", 1)
    return process, int(port)


def rss_and_fds(pid):
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return rss * 1024, len(os.listdir(f"/proc/{pid}/fd"))


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"requests": 0, "full": 0, "proper_errors": 0, "hangups": 0, "faults": 0, "bad": 0}
        self.bad_examples = []

    def add(self, key, example=None):
        with self.lock:
            self.counts[key] += 1
            if example and len(self.bad_examples) < 5:
                self.bad_examples.append(example)


def judge_whole(status, body, expected):
    try:
        doc = json.loads(body)
    except ValueError:
        return "bad", f"status {status}: not JSON: {body[:120]!r}"
    if status == 200:
        text = doc["choices"][0]["message"]["content"]
        return ("full", None) if text == expected else ("bad", f"200 with {len(text)} of {len(expected)} chars")
    if status >= 400 and isinstance(doc.get("error"), dict) and doc["error"].get("message"):
        return "proper_errors", None
    return "bad", f"status {status}: {body[:120]!r}"


def judge_stream(status, body, expected):
    if status != 200:
        return judge_whole(status, body, expected)
    events = [line[6:] for line in body.split("\n") if line.startswith("data: ")]
    if not events or events[-1] != "[DONE]":
        return "bad", f"stream without [DONE] ({len(body)} bytes)"
    text, error = "", False
    for event in events[:-1]:
        doc = json.loads(event)
        if "error" in doc:
            error = True
            continue
        for choice in doc.get("choices", []):
            text += choice["delta"].get("content") or ""
    if error:
        return "proper_errors", None
    return ("full", None) if text == expected else ("bad", f"stream with {len(text)} of {len(expected)} chars")


def client(port, providers, expected, deadline, totals, rng):
    while time.monotonic() < deadline:
        provider, model = rng.choice(providers)
        stream = rng.random() < 0.5
        hang_up = rng.random() < 0.05
        body = json.dumps({"model": f"{provider}/{model}", "stream": stream,
                           "messages": [{"role": "user", "content": "Hello"}]})
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            if hang_up:
                response.read(1)
                connection.sock.shutdown(socket.SHUT_RDWR)
                totals.add("hangups")
                continue
            payload = response.read().decode("utf-8")
            verdict, why = (judge_stream if stream else judge_whole)(response.status, payload, expected)
            totals.add(verdict, f"{provider} stream={stream}: {why}" if why else None)
        except Exception as error:  # a dropped connection is a bad answer
            totals.add("bad", f"{provider} stream={stream}: {type(error).__name__}: {error}")
        finally:
            totals.add("requests")
            connection.close()


def control(port, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, json.dumps(body) if body is not None else None,
                       {"Content-Type": "application/json"} if body is not None else {})
    response = connection.getresponse()
    data = response.read().decode("utf-8")
    connection.close()
    return response.status, data


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", 24)))
    args = parser.parse_args()
    names = [line.strip() for line in open(os.path.join(args.build_dir, "bundled_providers.txt")) if line.strip()]

    emulator, emulator_port = start([os.path.join(args.build_dir, "bin", "provhost-emulator"), "--port", "0"])
    origin = f"http://127.0.0.1:{emulator_port}"
    env = dict(os.environ, PROVHOST_BACKOFF_SCALE="0.01", PROVHOST_PLUGIN_PATH="", PROVHOST_API_KEY="")
    argv = [os.path.join(args.build_dir, "bin", "provhost")]
    for name in names:
        argv += ["--upstream", f"{name}={origin}"]
    argv += ["serve", "--listen", "127.0.0.1:0", "--quiet", "--idle-timeout", "2", "--first-byte-timeout", "5"]
    serve, port = start(argv, env)
    try:
        expected = control(emulator_port, "GET", "/__emulator/text")[1]
        status, providers_json = control(port, "GET", "/v1/providers")
        providers = [(p["name"], p["default_model"]) for p in json.loads(providers_json)["providers"]]

        # Warm up at full concurrency without faults (plugin workers started, libcurl's connection
        # cache at its working size), then take the baseline.
        totals = Totals()
        warm = [threading.Thread(target=client, args=(port, providers, expected, time.monotonic() + 5, totals,
                                                      random.Random(1000 + i))) for i in range(args.clients)]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        time.sleep(3)
        baseline = rss_and_fds(serve.pid)
        totals = Totals()
        peak = list(baseline)
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(port, providers, expected, deadline, totals, random.Random(i)))
                   for i in range(args.clients)]
        for thread in threads:
            thread.start()
        rng = random.Random(99)
        last_done = 0
        while time.monotonic() < deadline and serve.poll() is None:
            # About 5% of requests meet a fault: one request's worth, on a random route, every so often.
            with totals.lock:
                done = totals.counts["requests"]
            if rng.random() < 0.05 * max(1, done - last_done):
                route = rng.choice(names).lower()
                fault = rng.choice([f for f in FAULTS if not (f == "truncate" and route in NO_END_MARKER)])
                control(emulator_port, "POST", "/__emulator/fault", {"route": route, "fault": fault, "times": 1})
                totals.add("faults")
            last_done = done
            rss, fds = rss_and_fds(serve.pid)
            peak = [max(peak[0], rss), max(peak[1], fds)]
            time.sleep(0.05)
        for thread in threads:
            thread.join()
        crashed = serve.poll() is not None
        control(emulator_port, "DELETE", "/__emulator/fault")
        time.sleep(3)  # connections closing, workers idle
        after = rss_and_fds(serve.pid) if not crashed else (0, 0)
        health = control(port, "GET", "/health")[0] if not crashed else 0
    finally:
        serve.terminate()
        emulator.terminate()
        serve_exit = serve.wait(timeout=30)
        emulator.wait(timeout=10)

    c = totals.counts
    mib = 1024 * 1024
    print(f"soak: {args.seconds:.0f} s, {args.clients} clients: {c['requests']} requests, {c['full']} full answers, "
          f"{c['proper_errors']} proper errors, {c['hangups']} client hang-ups, {c['faults']} upstream faults "
          f"injected, {c['bad']} bad answers")
    print(f"serve RSS: {baseline[0] / mib:.1f} MiB before, {peak[0] / mib:.1f} peak, {after[0] / mib:.1f} after; "
          f"descriptors: {baseline[1]} before, {peak[1]} peak, {after[1]} after; crashed: {'yes' if crashed else 'no'}; "
          f"/health after: {health}; exit status after SIGTERM: {serve_exit}")
    for example in totals.bad_examples:
        print(f"  bad: {example}")
    back_to_baseline = after[0] <= baseline[0] * 1.25 + 8 * mib and after[1] <= baseline[1] + 2
    ok = not crashed and c["bad"] == 0 and health == 200 and back_to_baseline and serve_exit == 0
    print("soak: " + ("passed" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
