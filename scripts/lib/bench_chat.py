"""`provhost list` wall time and `provhost chat` CPU per streamed chunk, against `curl -sN`.

CPU is user + system time of the measured child process and its own children (getrusage of the
children: with --isolation process, the plugin workers provhost waited for count too), so the
emulator serving the bytes is not counted. Each figure is the median of several runs. `list` runs on
a warm scan cache in a temporary folder, with the bundled plugins and with 1,000 plugin files
(bench_list.py).

Before the long streams, the chat part counts the instructions (valgrind's callgrind, when installed) of
one chat of the emulator's plain answer with each isolation mode, and of `curl -sN` fetching its bytes:
start-up is most of what a chat costs beyond curl, and the count, unlike CPU time, does not move with
the machine's load. With --isolation process it is the host's alone (callgrind cannot follow the worker
into its sandbox), so the worker's start is counted apart: the worker run by hand to scan the plugin
(its exec, its dynamic linking, the plugin's loading; it answers on descriptor 3, which is closed then).

--parts chooses the measurements ("list chat" by default). --against BUILD_DIR weighs another build's
provhost in the same runs, each of its runs right after the same run of this build, so that whatever
else the machine does falls on both; its rows are marked with that folder.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
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
    parser.add_argument("--parts", default="list chat", help='any of "list startup chat"')
    parser.add_argument("--startup-runs", type=int, default=40)
    parser.add_argument("--startup-provider", default="Koala", help="whose plain answer the start-up part asks for")
    parser.add_argument("--against", help="another build folder, weighed in the same runs")
    args = parser.parse_args()
    parts = args.parts.split()

    providers = bundled_providers(args.build_dir)
    provhost = os.path.join(args.build_dir, "bin", "provhost")
    emulator_bin = os.path.join(args.build_dir, "bin", "provhost-emulator")

    if "list" in parts:
        # provhost list on a warm scan cache (bench_list.py, also `scripts/bench list` alone).
        bench_list.bench(provhost, os.path.join(args.build_dir, "lib", "provhost", "plugins", "provhost-koala.so"),
                         1000, args.list_runs)
    if "chat" in parts or "startup" in parts:
        measure_chat(args, providers, provhost, emulator_bin, parts)



def measure_chat(args, providers, provhost, emulator_bin, parts):
    """(b) chat CPU per chunk against curl fetching the same bytes."""
    builds = [("", provhost)]
    if args.against:
        builds.append((args.against, os.path.join(args.against, "bin", "provhost")))
    emulator = subprocess.Popen([emulator_bin], stdout=subprocess.PIPE, text=True)
    caches = tempfile.TemporaryDirectory()
    try:
        line = emulator.stdout.readline()
        origin = line.strip().split()[-1]
        upstreams = []
        for p in providers:
            upstreams += ["--upstream", f"{p}={origin}"]
        # Each build its own scan cache, warm before the first run: builds sharing one would rescan
        # every plugin (a worker each) whenever the other build ran last.
        def chat(index, binary, mode, provider):
            cache = os.path.join(caches.name, str(index))
            return [binary, "--plugin-cache", cache, "--isolation", mode, *upstreams, "chat", "-p", provider,
                    "benchmark"]
        for index, (_, binary) in enumerate(builds):
            child_cpu(chat(index, binary, "process", providers[0]))
        raw_url = f"{origin}/__emulator/raw?route={providers[0].lower()}"
        if "startup" in parts:
            measure_startup_costs(builds, chat, args.startup_provider,
                                  f"{origin}/__emulator/raw?route={args.startup_provider.lower()}", args.startup_runs)
        if "chat" not in parts:
            return
        measure_startup(builds, chat, providers[0], raw_url)
        post_json(f"{origin}/__emulator/config", {"chunks": args.chunks, "write_size": 16384})
        print(f"chat CPU, {args.chunks} chunks per answer, median of {args.runs} runs "
              f"(CPU = user + system of the client process):")
        print(f"  {'provider':<12} {'none':>10} {'process':>10} {'ratio':>7} {'curl -sN':>10} {'ratio':>7} "
              f"{'ns/chunk':>9}")
        for p in providers:
            raw_url = f"{origin}/__emulator/raw?route={p.lower()}"  # the route is the provider's id
            curl = ["curl", "-sN", "-o", "/dev/null", raw_url]
            cpu = {}
            for _ in range(args.runs):
                for mode in ("none", "process"):
                    for index, (label, binary) in enumerate(builds):
                        cpu.setdefault((label, mode), []).append(child_cpu(chat(index, binary, mode, p))[0])
                cpu.setdefault("curl", []).append(child_cpu(curl)[0])
            theirs = statistics.median(cpu["curl"])
            for label, _ in builds:
                none = statistics.median(cpu[(label, "none")])
                ours = statistics.median(cpu[(label, "process")])
                print(f"  {p:<12} {none * 1000:>8.1f}ms {ours * 1000:>8.1f}ms "
                      f"{ours / none:>6.2f}x {theirs * 1000:>8.1f}ms "
                      f"{ours / theirs if theirs > 0 else float('inf'):>6.2f}x {ours / args.chunks * 1e9:>9.0f}"
                      + (f"   {label}" if label else "   (targets: process < 1.3x none, < 1.5x curl)"))
    finally:
        caches.cleanup()
        emulator.terminate()
        emulator.wait(timeout=10)


def rusage_of(argv):
    """The resources argv used to completion, its children (a plugin worker it waited for) included."""
    with open(os.devnull, "wb") as null:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=null, stderr=null)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed ({child.returncode})")
    return usage


def measure_startup_costs(builds, chat, provider, raw_url, runs):
    """CPU (user + system), page faults and context switches of one chat of the emulator's plain
    answer in each isolation mode and of `curl -sN` fetching its bytes: the means of `runs` runs, every
    program run once per round so that the machine's load falls on each alike. Instruction counts miss
    what the kernel does for a process (mapping libraries, faulting pages in, starting threads and the
    worker, tearing the address space down), which is most of what a short chat costs beyond curl."""
    cases = [("curl -sN", ["curl", "-sN", "-o", "/dev/null", raw_url])]
    for index, (label, binary) in enumerate(builds):
        for mode in ("none", "process"):
            cases.append((f"provhost {mode}" + (f" ({label})" if label else ""), chat(index, binary, mode, provider)))
    totals = {name: [] for name, _ in cases}
    for _ in range(runs):
        for name, argv in cases:
            totals[name].append(rusage_of(argv))
    print(f"chat start-up, one plain answer from {provider}, means of {runs} runs (getrusage of the process and "
          "the children it waited for; the user/system split is the kernel's sampling, the sum is exact):")
    print(f"  {'':<34} {'CPU':>8} {'user':>8} {'system':>8} {'faults':>7} {'switches':>9}")
    for name, usages in totals.items():
        user = statistics.mean(u.ru_utime for u in usages) * 1000
        system = statistics.mean(u.ru_stime for u in usages) * 1000
        faults = statistics.mean(u.ru_minflt + u.ru_majflt for u in usages)
        switches = statistics.mean(u.ru_nvcsw + u.ru_nivcsw for u in usages)
        print(f"  {name:<34} {user + system:>6.2f}ms {user:>6.2f}ms {system:>6.2f}ms {faults:>7.0f} {switches:>9.1f}")


def measure_startup(builds, chat, provider, raw_url):
    """Instructions of one chat of the emulator's plain answer, each isolation mode, against curl."""
    theirs = bench_list.instructions(["curl", "-sN", "-o", "/dev/null", raw_url])
    if theirs is None:
        return
    print(f"chat start-up, one plain answer from {provider} (instructions, callgrind; curl -sN: "
          f"{theirs / 1e6:.2f} M):")
    for index, (label, binary) in enumerate(builds):
        counts = {mode: bench_list.instructions(chat(index, binary, mode, provider)) for mode in ("none", "process")}
        build_dir = os.path.dirname(os.path.dirname(binary))
        plugin = os.path.join(build_dir, "lib", "provhost", "plugins", f"provhost-{provider.lower()}.so")
        worker = bench_list.instructions([os.path.join(build_dir, "bin", "provhost-plugin-worker"), "scan", plugin])
        print(f"  none {counts['none'] / 1e6:.2f} M ({counts['none'] / theirs:.2f}x curl), "
              f"process {counts['process'] / 1e6:.2f} M ({counts['process'] / theirs:.2f}x curl, the host alone) "
              f"+ the worker's start {worker / 1e6:.2f} M" + (f"   {label}" if label else ""))


if __name__ == "__main__":
    main()
