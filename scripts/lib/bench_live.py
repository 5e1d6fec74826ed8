#!/usr/bin/env python3
"""scripts/bench live: live plugin folders (figures, not pass/fail).

1. The time from `mv` of a plugin into a watched folder to the first successful chat on it (the
   median of ROUNDS, default 20): Koala is removed, then copied under a temporary name and renamed
   in, as the README says to, and a chat is tried every 5 ms until one answers.
2. serve's added latency at RATE (1000) non-streaming chats per second while a plugin is replaced
   every second: percentiles of the same upstream request sent to the emulator directly, through
   serve with the folder left alone, and through serve while Koala's file is replaced each second
   (the chats go to Ylokh, the replacing goes on beside them).

provhost runs from a copy of its executables in a temporary folder, so that the bundled plugins it
serves are the ones in the watched folder and nothing else."""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start(argv):
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    line = process.stdout.readline()
    if "listening on http://" not in line:
        sys.exit(f"{argv[0]} did not start: {line!r}")
    return process, int(line.strip().rsplit(":", 1)[1])


def request(port, method, path, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def install(source, folder, name):
    temporary = os.path.join(folder, "." + name + ".tmp")
    shutil.copyfile(source, temporary)
    start_time = time.monotonic()
    os.rename(temporary, os.path.join(folder, name))
    return start_time


def rate_line(load, url, body, rate, seconds):
    out = subprocess.run([load, "rate", "--url", url, "--body", body, "--rate", str(rate), "--seconds", str(seconds),
                          "--warmup", "1"], capture_output=True, text=True, check=False).stdout.strip()
    return dict(item.split("=", 1) for item in out.split())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    args = parser.parse_args()
    build = args.build_dir
    rounds = int(os.environ.get("ROUNDS", "20"))
    rate = int(os.environ.get("RATE", "1000"))
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    settle = os.environ.get("PLUGIN_SETTLE", "0.5")
    bundled = os.path.join(build, "lib", "provhost", "plugins")
    providers = open(os.path.join(build, "bundled_providers.txt")).read().split()

    with tempfile.TemporaryDirectory() as work:
        bin_dir, folder = os.path.join(work, "bin"), os.path.join(work, "plugins")
        os.makedirs(bin_dir)
        os.makedirs(folder)
        for name in ("provhost", "provhost-plugin-worker"):
            shutil.copy2(os.path.join(build, "bin", name), bin_dir)
        for name in os.listdir(bundled):
            shutil.copy2(os.path.join(bundled, name), folder)
        koala = os.path.join(bundled, "provhost-koala.so")

        emulator, emulator_port = start([os.path.join(build, "bin", "provhost-emulator"), "--port", "0",
                                         "--write-size", "65536"])
        upstreams = []
        for provider in providers:
            upstreams += ["--upstream", f"{provider}=http://127.0.0.1:{emulator_port}"]
        env_cache = os.path.join(work, "cache")
        os.environ["XDG_CACHE_HOME"] = env_cache
        serve, port = start([os.path.join(bin_dir, "provhost"), "--plugin-dir", folder] + upstreams +
                            ["serve", "--listen", "127.0.0.1:0", "--quiet", "--plugin-settle", settle])
        try:
            chat = json.dumps({"model": "Koala/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})

            def koala_listed():
                return b'"Koala/gpt-4o-mini"' in request(port, "GET", "/v1/models")[1]

            times = []
            for _ in range(rounds):
                os.remove(os.path.join(folder, "provhost-koala.so"))
                while koala_listed():
                    time.sleep(0.005)
                moved = install(koala, folder, "provhost-koala.so")
                while request(port, "POST", "/v1/chat/completions", chat)[0] != 200:
                    time.sleep(0.005)
                times.append(time.monotonic() - moved)
            print(f"From mv into the folder to the first answered chat (Koala, --plugin-settle {settle}, "
                  f"{rounds} rounds): median {statistics.median(times) * 1000:.0f} ms, "
                  f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")

            body = os.path.join(work, "serve.json")
            with open(body, "w") as out:
                out.write(json.dumps({"model": "Ylokh/gpt-3.5-turbo",
                                      "messages": [{"role": "user", "content": "Hello"}]}))
            request(port, "POST", "/v1/chat/completions", open(body).read())
            recorded = json.loads(request(emulator_port, "GET", "/__emulator/requests")[1])[-1]["body"]
            direct = os.path.join(work, "direct.json")
            with open(direct, "w") as out:
                out.write(recorded)
            load = os.path.join(build, "bin", "provhost-serve-load")
            stop = threading.Event()
            replaced = [0]

            def replace_every_second():
                while not stop.wait(1.0):
                    install(koala, folder, "provhost-koala.so")
                    replaced[0] += 1

            lines = {"direct": rate_line(load, f"http://127.0.0.1:{emulator_port}/v1/chat/completions", direct,
                                         rate, seconds),
                     "serve": rate_line(load, f"http://127.0.0.1:{port}/v1/chat/completions", body, rate, seconds)}
            replacer = threading.Thread(target=replace_every_second)
            replacer.start()
            lines["serve, replacing"] = rate_line(load, f"http://127.0.0.1:{port}/v1/chat/completions", body, rate,
                                                  seconds)
            stop.set()
            replacer.join()
            print(f"\nNon-streaming chats (Ylokh) at {rate} req/s for {seconds:g} s; Koala's file replaced "
                  f"{replaced[0]} times during the last run")
            marks = ("p50", "p90", "p99", "max")
            print(f"{'path':<18}" + "".join(f"{m + ' ms':>10}" for m in marks) + f"{'req/s':>8}{'errors':>8}")
            for path, f in lines.items():
                print(f"{path:<18}" + "".join(f"{float(f[m + '_ms']):10.3f}" for m in marks) +
                      f"{f['achieved_rps']:>8}{f['errors']:>8}")
            for path in ("serve", "serve, replacing"):
                added = float(lines[path]["p99_ms"]) - float(lines["direct"]["p99_ms"])
                print(f"p99 added latency, {path}: {added:.3f} ms")
        finally:
            serve.terminate()
            emulator.terminate()
            serve.wait()
            emulator.wait()


if __name__ == "__main__":
    main()
