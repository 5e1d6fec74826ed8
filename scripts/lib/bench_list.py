"""`provhost list` on a warm scan cache: wall time and instructions, with the build's plugin folder and
with 1,000 plugin files (copies of a bundled plugin under other names), next to `provhost --version`.

Wall time is hyperfine's (-N: no shell in between) median, or a loop's when hyperfine is missing; it
moves with the machine's load. The instruction count (valgrind's callgrind, when installed) does not,
so it is the figure to compare builds by. Figures, not pass/fail: the targets are printed alongside.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def environment():
    """This environment without plugin folders or upstreams of the user's."""
    return {k: v for k, v in os.environ.items() if k != "PROVHOST_PLUGIN_PATH" and not k.startswith("PROVHOST_UPSTREAM_")}


def run_quietly(argv):
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env=environment())
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-400:]}")


def wall_ms(argv, runs):
    """Median and mean wall time of argv in milliseconds, after a warm-up."""
    if shutil.which("hyperfine"):
        with tempfile.NamedTemporaryFile(suffix=".json") as export:
            subprocess.run(["hyperfine", "-N", "--warmup", "20", "--runs", str(runs), "--export-json", export.name,
                            "--", subprocess.list2cmdline(argv)],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment())
            times = json.load(open(export.name, encoding="utf-8"))["results"][0]["times"]
    else:
        for _ in range(20):
            run_quietly(argv)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run_quietly(argv)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, statistics.mean(times) * 1000


def instructions(argv):
    """Instructions argv runs (callgrind's total), or None without valgrind."""
    if not shutil.which("valgrind"):
        return None
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=environment())
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found else None


def bench(provhost, plugin_file, copies, runs):
    with tempfile.TemporaryDirectory() as work:
        many = os.path.join(work, "plugins")
        os.mkdir(many)
        for i in range(copies):
            shutil.copy(plugin_file, os.path.join(many, f"provhost-copy{i:04}.so"))
        cache = ["--plugin-cache", os.path.join(work, "cache")]
        cases = [
            ("provhost list, the build's plugin folder, warm cache", [provhost, *cache, "list"], "< 5 ms"),
            (f"provhost list, {copies:,} plugin files, warm cache", [provhost, *cache, "--plugin-dir", many, "list"],
             "< 100 ms"),
            ("provhost --version (the process alone)", [provhost, "--version"], None),
        ]
        for label, argv, target in cases:
            run_quietly(argv)  # fills the cache
            median, mean = wall_ms(argv, runs)
            count = instructions(argv)
            line = f"{label}: median {median:.2f} ms, mean {mean:.2f} ms over {runs} runs"
            if count is not None:
                line += f", {count / 1e6:.2f} M instructions"
            if target:
                line += f" (target {target})"
            print(line, flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--copies", type=int, default=1000)
    args = parser.parse_args()
    bench(os.path.join(args.build_dir, "bin", "provhost"),
          os.path.join(args.build_dir, "lib", "provhost", "plugins", "provhost-koala.so"), args.copies, args.runs)


if __name__ == "__main__":
    main()
