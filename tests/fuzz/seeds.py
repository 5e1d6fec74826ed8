#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (committed; run this again after changing it or the order
in which plugin_fuzzer.cpp reads its input).

The framing, json_scan and http_connection targets take raw bytes (an answer body, a JSON text, what a client
sends), so their seeds are those bytes. plugin_fuzzer.cpp reads a conversation and responses through
FuzzedDataProvider, so its seeds are encoded here the way FuzzedDataProvider decodes: strings from the front
(ConsumeRandomLengthString: a backslash doubled, a string ended by a backslash and another byte) and integers
from the back (ConsumeIntegralInRange: as many bytes as the range needs, the first taken the most significant).
The answers follow the upstream protocols as each plugin's README.md and the emulator describe them.
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

# As plugin_fuzzer.cpp reads them.
MAX_SESSIONS, MAX_MESSAGES, MAX_HEADERS, MAX_CUTS, MAX_SHORT = 3, 6, 4, 16, 256
ROLES = ["user", "assistant", "system"]
STATUSES = [200, 201, 204, 301, 400, 401, 403, 404, 413, 429, 500, 502, 503, 520]
HEADER_NAMES = ["Content-Type", "Set-Cookie", "Retry-After", "Location", "Server"]
MODEL_COUNTS = {"koala": 1, "ylokh": 1, "chatgptfree": 1, "freenetfly": 2, "flowgpt": 13}


class ProviderInput:
    """The bytes from which FuzzedDataProvider returns the values handed to it, in order."""

    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # in the order they are consumed: the input's last byte first

    def integer(self, low, high, value):
        assert low <= value <= high
        span, size = high - low, 0
        while size < 8 and (span >> (8 * size)) > 0:
            size += 1
        offset = value - low
        self.back += bytes((offset >> (8 * (size - 1 - i))) & 0xFF for i in range(size))

    def boolean(self, value):
        self.integer(0, 255, 1 if value else 0)

    def string(self, text, max_length):
        raw = text.encode() if isinstance(text, str) else text
        assert len(raw) < max_length
        self.front += raw.replace(b"\\", b"\\\\") + b"\\ "

    def data(self):
        return bytes(self.front) + bytes(reversed(self.back))


def plugin_seed(plugin, *sessions):
    """Sessions one after the other on one provider, each (messages, responses[, stream[, options]]) with
    messages as (role, content) and responses as (status, [(header, value)], body, [cut offsets])."""
    seed = ProviderInput()
    seed.integer(1, MAX_SESSIONS, len(sessions))
    for session in sessions:
        add_session(seed, plugin, *session)
    return seed.data()


def add_session(seed, plugin, messages, responses, stream=True, options=None):
    seed.boolean(stream)
    seed.integer(0, MODEL_COUNTS[plugin], 0)
    seed.boolean(options is not None)
    if options is not None:
        seed.string(options, MAX_SHORT)
    seed.integer(0, MAX_MESSAGES, len(messages))
    for role, content in messages:
        seed.integer(0, len(ROLES) - 1, ROLES.index(role))
        seed.string(content, MAX_SHORT)
    for status, headers, body, cuts in responses:
        seed.integer(0, len(STATUSES) - 1, STATUSES.index(status))
        seed.integer(0, MAX_HEADERS, len(headers))
        for name, value in headers:
            seed.integer(0, len(HEADER_NAMES) - 1, HEADER_NAMES.index(name))
            seed.string(value, MAX_SHORT)
        raw = body.encode()
        seed.string(raw, 1 << 30)
        seed.integer(0, MAX_CUTS, len(cuts))
        for cut in cuts:
            seed.integer(0, len(raw), cut)


SSE = [("Content-Type", "text/event-stream")]
JSON = [("Content-Type", "application/json")]
HELLO = [("user", "Hello")]
HISTORY = [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke")]


def chunk(text):
    return 'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":%s}}]}\n\n' % text


OPENAI_STREAM = chunk('"Hel"') + chunk('"lo, w\\u00f6rld"') + chunk('"\\ud83d\\ude00"') + "data: [DONE]\n\n"
NONCE_PAGE = '<html><div class="wpaicg-chat-shortcode" data-post-id="106" data-nonce="1a2b3c4d5e" data-url="x"></div></html>'

PLUGIN_SEEDS = {
    "koala": {
        "stream": (HELLO, [(200, SSE, 'data: "Hel"\ndata: "lo"\n\ndata: " w\\u00f6rld"\n', [3, 17])]),
        "history": (HISTORY, [(200, SSE, 'data: "Why did"\r\ndata: " the chicken"\r\n', [])]),
        "error": (HELLO, [(200, SSE, 'data: {"error":{"message":"quota exceeded"}}\n', [])]),
        "undecodable": (HELLO, [(200, SSE, 'data: "ok"\ndata: {broken\ndata: 42\n', [8])]),
        "rate_limited": (HELLO, [(429, [("Retry-After", "3")], "slow down", [])]),
    },
    "ylokh": {
        "stream": (HISTORY, [(200, SSE, OPENAI_STREAM, [10, 60, 61])]),
        "whole": (HELLO, [(200, JSON, '{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there"}}]}', [20])], False),
        "truncated": (HELLO, [(200, SSE, chunk('"Hel"'), [])]),
        "options": (HELLO, [(200, SSE, OPENAI_STREAM, [])], True, '{"temperature":0.2,"top_p":0.9}'),
        "error": (HELLO, [(200, JSON, '{"error":"model overloaded"}', [])], False),
    },
    "chatgptfree": {
        "stream": (HELLO, [(200, [("Content-Type", "text/html")], NONCE_PAGE, [30]), (200, SSE, OPENAI_STREAM, [])]),
        "whole": (HISTORY, [(200, [("Content-Type", "text/html")], NONCE_PAGE, []), (200, JSON, '{"data":"The whole answer"}', [5])]),
        "no_nonce": (HELLO, [(200, [], "<html>nothing here</html>", [])]),
        "cookies": (HELLO, [(200, [("Set-Cookie", "a=b")], NONCE_PAGE, []), (200, SSE, OPENAI_STREAM, [])], True, '{"cookies":{"cf_clearance":"abc"}}'),
    },
    "freenetfly": {
        "stream": (HELLO, [(200, SSE, OPENAI_STREAM, [1, 2, 3])]),
        "history": (HISTORY, [(200, SSE, "event: message\n" + chunk('"a"') + ": keep-alive\n\n" + "data: [DONE]\n", [])]),
        "error": (HELLO, [(200, SSE, 'data: {"error":{"message":"no quota"}}\n\n', [])]),
        "server_error": (HELLO, [(502, [("Server", "nginx")], "<html>Bad Gateway</html>", [])]),
    },
    "flowgpt": {
        "stream": (HELLO, [(200, [], '{"event":"text","data":"Hel"}\n{"event":"text","data":"lo"}\n', [12])]),
        "history": (HISTORY, [(200, [], '\n{"event":"start"}\n{"event":"text","data":"A joke"}\n\n{"event":"done"}\n', [])]),
        "error": (HELLO, [(200, [], '{"error":{"message":"blocked"}}\n', [])]),
        "temperature": (HELLO, [(200, [], '{"event":"text","data":"x"}', [])], True, '{"temperature":0.1}'),
    },
}

FRAMING_SEEDS = {
    "sse": OPENAI_STREAM,
    "sse_fields": "event: message\r\nid: 7\r\ndata: one\r\ndata:two\r\n\r\n: comment\rdata\r\n\r\nretry: 5\n",
    "ndjson": '{"event":"text","data":"Hel"}\n  \n{"event":"text","data":"lo"}\r\n\t\n{"a":1}',
    "lines": 'data: "Hel"\ndata: "lo"\n\ndata: " w\\u00f6rld"',
}

JSON_SEEDS = {
    "chunk": '{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel\\u00f6 \\ud83d\\ude00"}}]}',
    "members": '{"content":"a\\nb","text":"t","content":"second","error":null,"n":-1.5e3,"t":true,"f":false}',
    "error": '{"error":{"message":"quota","code":429},"content":"x"}',
    "string": '"plain \\"quoted\\" \\/ \\b\\f\\n\\r\\t text"',
    "array": ' [1, 2.0, -0, 1e9, "\u00e9", [], {}, [[null]]] ',
    "flowgpt": '{"event":"text","data":"Hello"}',
}

HTTP_SEEDS = {
    "get": "GET /items HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "post": 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"model":"koala"}',
    "pipelined": "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /stream HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
    "continue": "POST /b HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    "http10_stream": "GET /stream HTTP/1.0\r\n\r\n",
    "close": "GET /x?key=secret HTTP/1.1\r\nHost: h\r\nConnection: close\r\nAuthorization: Bearer k\r\n\r\n",
    "malformed": "GET /x HTTP/1.1\r\nHost h\r\n\r\n",
}


# Several sessions on one provider: what one caches, the next uses.
MULTI_SESSION_SEEDS = {
    "chatgptfree": {
        "cached_nonce": [(HELLO, [(200, [], NONCE_PAGE, []), (200, SSE, OPENAI_STREAM, [])]),
                         (HISTORY, [(200, SSE, OPENAI_STREAM, [7])])],
        "stale_nonce": [(HELLO, [(200, [], NONCE_PAGE, []), (200, SSE, OPENAI_STREAM, [])]),
                        (HELLO, [(403, [], "-1", []), (200, [], NONCE_PAGE, []), (200, SSE, OPENAI_STREAM, [])])],
    },
    "koala": {"two_chats": [(HELLO, [(200, SSE, 'data: "a"\n', [])]), (HISTORY, [(200, SSE, 'data: "b"\n', [])])]},
}


def write(folder, name, data):
    path = os.path.join(HERE, "corpus", folder)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "wb") as out:
        out.write(data if isinstance(data, bytes) else data.encode())


def main():
    shutil.rmtree(os.path.join(HERE, "corpus"), ignore_errors=True)
    for plugin, seeds in PLUGIN_SEEDS.items():
        for name, seed in seeds.items():
            write("plugin_" + plugin, name, plugin_seed(plugin, seed))
    for plugin, seeds in MULTI_SESSION_SEEDS.items():
        for name, sessions in seeds.items():
            write("plugin_" + plugin, name, plugin_seed(plugin, *sessions))
    for name, data in FRAMING_SEEDS.items():
        write("framing", name, data)
    for name, data in JSON_SEEDS.items():
        write("json_scan", name, data)
    for name, data in HTTP_SEEDS.items():
        write("http_connection", name, data)


if __name__ == "__main__":
    main()
