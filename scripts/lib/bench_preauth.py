"""`scripts/bench preauth`: what unauthenticated request bodies cost `provhost serve` in memory.

Starts `provhost serve --api-key` (no plugins needed: the requests never reach the engine), then
CLIENTS clients at once each announce and send a BODY_BYTES body to /v1/chat/completions without
the key, and read the answer (401 expected). Prints serve's resident memory before, at its peak
(VmHWM) and after, and how long the clients took. A server that reads a body before checking the
key holds every body at once; one that answers from the header holds none.
"""
import argparse
import asyncio
import os
import re
import subprocess
import sys
import time


def memory_kib(pid, field):
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


async def one_client(port, body_bytes, statuses):
    """Sends while it listens, as curl does: an early answer stops the upload."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    header = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              f"Content-Type: application/json\r\nContent-Length: {body_bytes}\r\n\r\n").encode()
    answer = asyncio.ensure_future(asyncio.wait_for(reader.readline(), 120))
    chunk = b"x" * 65536
    try:
        writer.write(header)
        sent = 0
        while sent < body_bytes and not answer.done():
            piece = chunk[:min(len(chunk), body_bytes - sent)]
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
    except (ConnectionError, OSError):
        pass  # the server answered and closed before the whole body went out
    try:
        match = re.match(rb"HTTP/1\.[01] (\d{3})", await answer)
        statuses.append(int(match.group(1)) if match else 0)
    except (ConnectionError, OSError, asyncio.TimeoutError):
        statuses.append(0)
    writer.close()


async def run_clients(port, clients, body_bytes):
    statuses = []
    await asyncio.gather(*(one_client(port, body_bytes, statuses) for _ in range(clients)))
    return statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provhost", required=True, help="the provhost binary to weigh")
    parser.add_argument("--clients", type=int, default=int(os.environ.get("CLIENTS", 400)))
    parser.add_argument("--body-bytes", type=int, default=int(os.environ.get("BODY_BYTES", 4_000_000)))
    args = parser.parse_args()

    serve = subprocess.Popen([args.provhost, "serve", "--listen", "127.0.0.1:0", "--api-key", "sk-bench", "--quiet"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PROVHOST_PLUGIN_PATH": "/nonexistent"})
    try:
        line = serve.stdout.readline()
        match = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not match:
            sys.exit(f"bench preauth: serve did not start: {line}{serve.stderr.read()[-400:]}")
        port = int(match.group(1))
        before = memory_kib(serve.pid, "VmRSS")
        start = time.perf_counter()
        statuses = asyncio.run(run_clients(port, args.clients, args.body_bytes))
        took = time.perf_counter() - start
        peak = memory_kib(serve.pid, "VmHWM")
        after = memory_kib(serve.pid, "VmRSS")
    finally:
        serve.terminate()
        serve.wait(10)
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    print(f"{args.clients} unauthenticated {args.body_bytes}-byte bodies: answers {counts} in {took:.2f} s; "
          f"serve RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, after {after / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
