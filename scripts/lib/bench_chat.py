"""`provhost list` wall time and `provhost chat` CPU per streamed chunk, against `curl -sN`.

CPU is user + system time of the measured child process and its own children (getrusage of the
children: with --isolation process, the plugin workers provhost waited for count too), so the
emulator serving the bytes is not counted. Each figure is the median of several runs. `list` runs on
a warm scan cache in a temporary folder, with the bundled plugins and with 1,000 plugin files
(bench_list.py).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

import bench_list


def bundled_providers(build_dir):
    """The bundled providers, as the build lists them (one name a line)."""
    with open(os.path.join(build_dir, "bundled_providers.txt"), encoding="utf-8") as listing:
        return [line.strip() for line in listing if line.strip()]


def child_cpu(argv, env=None):
    """Runs argv to completion with stdout discarded; returns (cpu seconds, wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def post_json(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return response.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--list-runs", type=int, default=200)
    args = parser.parse_args()

    providers = bundled_providers(args.build_dir)
    provhost = os.path.join(args.build_dir, "bin", "provhost")
    emulator_bin = os.path.join(args.build_dir, "bin", "provhost-emulator")

    # (a) provhost list on a warm scan cache (bench_list.py, also `scripts/bench list` alone).
    bench_list.bench(provhost, os.path.join(args.build_dir, "lib", "provhost", "plugins", "provhost-koala.so"), 1000,
                     args.list_runs)

    # (b) chat CPU per chunk against curl fetching the same bytes.
    emulator = subprocess.Popen([emulator_bin], stdout=subprocess.PIPE, text=True)
    try:
        line = emulator.stdout.readline()
        origin = line.strip().split()[-1]
        post_json(f"{origin}/__emulator/config", {"chunks": args.chunks, "write_size": 16384})
        upstreams = []
        for p in providers:
            upstreams += ["--upstream", f"{p}={origin}"]
        print(f"chat CPU, {args.chunks} chunks per answer, median of {args.runs} runs "
              f"(CPU = user + system of the client process):")
        print(f"  {'provider':<12} {'none':>10} {'process':>10} {'ratio':>7} {'curl -sN':>10} {'ratio':>7} "
              f"{'ns/chunk':>9}")
        for p in providers:
            raw_url = f"{origin}/__emulator/raw?route={p.lower()}"  # the route is the provider's id
            chat = [provhost, *upstreams, "chat", "-p", p, "benchmark"]
            curl = ["curl", "-sN", "-o", "/dev/null", raw_url]
            isolation = {}
            for mode in ("none", "process"):
                command = [provhost, "--isolation", mode, *chat[1:]]
                isolation[mode] = statistics.median(child_cpu(command)[0] for _ in range(args.runs))
            theirs = statistics.median(child_cpu(curl)[0] for _ in range(args.runs))
            ours = isolation["process"]
            print(f"  {p:<12} {isolation['none'] * 1000:>8.1f}ms {ours * 1000:>8.1f}ms "
                  f"{ours / isolation['none']:>6.2f}x {theirs * 1000:>8.1f}ms "
                  f"{ours / theirs if theirs > 0 else float('inf'):>6.2f}x {ours / args.chunks * 1e9:>9.0f}"
                  f"   (targets: process < 1.3x none, < 1.5x curl)")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


if __name__ == "__main__":
    main()
