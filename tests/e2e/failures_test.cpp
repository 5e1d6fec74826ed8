// What the real provhost does when things go wrong: bad input, upstream faults, timeouts, retries,
// fallback and Ctrl-C. Every failure is one line on stderr and an exit code by kind; text that
// arrived before a failure stays on stdout.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e.hpp"
#include "support/silent_server.hpp"

using namespace provhost::e2e;

namespace {

using provhost::test::SilentServer;

// A port whose accept queue is full, so that the kernel ignores new connection attempts: nobody
// can connect until the connect timeout. The queue holds one connection (a backlog of 0), which
// `queued_` takes; `waiting_` makes sure of it.
class FullServer {
 public:
  FullServer() {
    for (int *client : {&queued_, &waiting_}) {
      *client = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      sockaddr_in address = server_.address();
      ::connect(*client, reinterpret_cast<sockaddr *>(&address), sizeof address);
    }
    pollfd connected{queued_, POLLOUT, 0};
    REQUIRE(::poll(&connected, 1, 5000) == 1);
  }
  ~FullServer() {
    ::close(queued_);
    ::close(waiting_);
  }
  FullServer(const FullServer &) = delete;
  FullServer &operator=(const FullServer &) = delete;
  std::string origin() const { return server_.origin(); }

 private:
  SilentServer server_{0};
  int queued_ = -1, waiting_ = -1;
};

std::string closed_origin() {
  int port = SilentServer().port();  // bound, then closed again: nobody listens there now
  return "http://127.0.0.1:" + std::to_string(port);
}

// Checks a failed run: the exit code, nothing on stdout, and exactly one line on stderr, which is
// `line` (or, when the rest of it is someone else's wording, starts with it).
void check_one_line(const ProcessResult &result, int exit_code, const std::string &line, bool prefix = false) {
  INFO("stderr: " << result.err);
  CHECK(result.exit_code == exit_code);
  CHECK(result.out.empty());
  std::vector<std::string> lines = lines_of(result.err);
  REQUIRE(lines.size() == 1);
  if (prefix) {
    CHECK(lines[0].starts_with(line));
  } else {
    CHECK(lines[0] == line);
  }
}

// Text that is a non-empty part of the beginning of the answer, not all of it.
void check_partial(const std::string &out, const std::string &expected) {
  CHECK_FALSE(out.empty());
  CHECK(out.size() < expected.size());
  CHECK(expected.starts_with(out));
}

// The working providers in the order `chat` without -p tries them, as `list --json` shows them.
std::vector<std::string> fallback_order(const Upstream &upstream) {
  ProcessResult list = upstream.provhost({"list", "--json"});
  REQUIRE(list.exit_code == 0);
  auto json = parse_json(list.out);
  std::vector<std::string> names;
  for (const auto &provider : json["providers"].GetArray()) {
    if (provider["working"].GetBool()) names.push_back(provider["name"].GetString());
  }
  return names;
}

std::string route_of(const std::string &name) {
  for (const Provider &p : providers) {
    if (name == p.name) return p.route;
  }
  FAIL("no route for " << name);
  return {};
}

// Where each provider's answer is asked for.
std::string answer_path(const std::string &route) { return std::string(provhost::emulator::answer_path(route)); }

}  // namespace

TEST_CASE("bad input is one line on stderr and exit 2, and nothing is sent") {
  provhost::test::TempDir dir;
  Upstream upstream;
  const std::string missing = (dir.path() / "missing.json").string();
  const std::string folder = dir.path().string();
  const std::string malformed = dir.write("malformed.json", "[{\"role\": ").string();
  const std::string not_array = dir.write("object.json", R"({"role":"user","content":"Hi"})").string();
  const std::string no_role = dir.write("no-role.json", R"([{"content":"Hi"}])").string();
  const std::string bad_role =
      dir.write("bad-role.json", R"([{"role":"user","content":"Hi"},{"role":"tool","content":"x"}])").string();
  const std::string number_content = dir.write("number.json", R"([{"role":"user","content":42}])").string();
  const std::string bad_utf8 = dir.write("latin1.json", "[{\"role\":\"user\",\"content\":\"caf\xE9\"}]").string();
  // A million nested arrays: a recursive parser would run out of stack.
  const std::string deep = dir.write("deep.json", std::string(1'000'000, '[')).string();

  struct Case {
    const char *what;
    std::vector<std::string> args;
    std::string line;
    std::string input = "";
    Environment env = {};
    bool prefix = false;  // the message is the registry's: only its start is checked
  };
  const std::string no_prompt = "provhost: no prompt: give PROMPT, - for stdin, or --messages FILE";
  const std::vector<Case> cases = {
      {"unknown provider", {"chat", "-p", "Nope", "Hi"}, "provhost: unknown provider \"Nope\"", "", {}, true},
      {"unknown model", {"chat", "-p", "Koala", "-m", "nope", "Hi"}, "provhost: model not found", "", {}, true},
      {"unreadable messages file",
       {"chat", "-p", "Ylokh", "--messages", missing},
       "provhost: cannot read messages file " + missing + ": No such file or directory"},
      {"a folder as messages file",
       {"chat", "-p", "Ylokh", "--messages", folder},
       "provhost: cannot read messages file " + folder + ": it is a directory"},
      {"malformed JSON",
       {"chat", "-p", "Ylokh", "--messages", malformed},
       "provhost: " + malformed + ": malformed JSON at offset 10: Invalid value."},
      {"not an array",
       {"chat", "-p", "Ylokh", "--messages", not_array},
       "provhost: " + not_array + ": expected a JSON array of {\"role\", \"content\"} objects"},
      {"a message without role",
       {"chat", "-p", "Ylokh", "--messages", no_role},
       "provhost: " + no_role + ": message 0 has no \"role\" string"},
      {"an unknown role",
       {"chat", "-p", "Ylokh", "--messages", bad_role},
       "provhost: " + bad_role + ": message 1 has the role \"tool\"; expected system, user or assistant"},
      {"content that is no string",
       {"chat", "-p", "Ylokh", "--messages", number_content},
       "provhost: " + number_content + ": message 0 has no \"content\" string (or array of text parts)"},
      {"a file that is not UTF-8",
       {"chat", "-p", "Ylokh", "--messages", bad_utf8},
       "provhost: " + bad_utf8 + ": malformed JSON at offset 30: Invalid encoding in string."},
      {"JSON nested a million deep",
       {"chat", "-p", "Ylokh", "--messages", deep},
       "provhost: " + deep + ": malformed JSON at offset 1000000: Invalid value."},
      {"no prompt", {"chat", "-p", "Ylokh"}, no_prompt},
      {"only a system message", {"chat", "-p", "Ylokh", "--system", "Be brief."}, no_prompt},
      {"empty stdin", {"chat", "-p", "Ylokh", "-"}, "provhost: no prompt: standard input was empty"},
      {"an unknown request option",
       {"chat", "-p", "Ylokh", "-o", "seeds=1", "Hi"},
       "provhost: -o seeds=1: expected KEY=VALUE with KEY one of temperature, top_p, max_tokens, stop"},
      {"a request option without a value",
       {"chat", "-p", "Ylokh", "-o", "temperature", "Hi"},
       "provhost: -o temperature: expected KEY=VALUE with KEY one of temperature, top_p, max_tokens, stop"},
      {"a request option of the wrong type",
       {"chat", "-p", "Ylokh", "-o", "temperature=hot", "Hi"},
       "provhost: -o temperature=hot: temperature must be a number"},
      {"a negative max_tokens",
       {"chat", "-p", "Ylokh", "-o", "max_tokens=-1", "Hi"},
       "provhost: -o max_tokens=-1: max_tokens must be a non-negative integer"},
      {"stdin twice",
       {"chat", "-p", "Ylokh", "--messages", "-", "-"},
       "provhost: --messages - and PROMPT - cannot both read standard input",
       "[]"},
      {"a bad PROVHOST_BACKOFF_SCALE",
       {"chat", "-p", "Ylokh", "Hi"},
       "provhost: PROVHOST_BACKOFF_SCALE must be a number >= 0, got \"fast\"",
       "",
       {{"PROVHOST_BACKOFF_SCALE", "fast"}}},
      {"an unsupported proxy",
       {"chat", "-p", "Ylokh", "--proxy", "ftp://127.0.0.1:1", "Hi"},
       "provhost: unsupported proxy scheme \"ftp\" (use http, https, socks4, socks4a, socks5 or socks5h)"},
      {"an --upstream with a path",
       {"--upstream", "Ylokh=http://127.0.0.1:1/v1", "chat", "-p", "Ylokh", "Hi"},
       "provhost: --upstream Ylokh: invalid upstream 'http://127.0.0.1:1/v1': give only scheme://host[:port], "
       "without a path"},
      {"a PROVHOST_UPSTREAM_ that is no URL",
       {"chat", "-p", "Ylokh", "Hi"},
       "provhost: Ylokh: invalid upstream 'nonsense': expected scheme://host[:port], e.g. http://127.0.0.1:8080",
       "",
       {{"PROVHOST_UPSTREAM_YLOKH", "nonsense"}}},
  };
  for (const Case &c : cases) {
    INFO(c.what);
    check_one_line(upstream.provhost(c.args, c.input, c.env), 2, c.line, c.prefix);
  }
  CHECK(upstream.emulator.requests().empty());
}

TEST_CASE("an upstream nobody listens on is a transfer failure") {
  Upstream upstream;
  std::string origin = closed_origin();
  ProcessResult result = upstream.chat("Ylokh", {"Hi"}, "", {{"PROVHOST_UPSTREAM_YLOKH", origin}});
  CHECK(result.exit_code == 4);
  CHECK(result.out.empty());
  REQUIRE(lines_of(result.err).size() == 1);
  CHECK(result.err.starts_with("provhost: Ylokh: connection failed: Failed to connect to 127.0.0.1 port " +
                               origin.substr(origin.rfind(':') + 1)));
}

TEST_CASE("timeouts: no connection, no response, a stalled stream, and the whole chat") {
  Upstream upstream;
  const std::string expected = upstream.emulator.expected_text();
  SECTION("no connection") {
    FullServer full;
    ProcessResult result =
        upstream.chat("Ylokh", {"--connect-timeout", "0.3", "Hi"}, "", {{"PROVHOST_UPSTREAM_YLOKH", full.origin()}});
    check_one_line(result, 4, "provhost: Ylokh: timed out connecting after 0.3 s");
  }
  SECTION("nothing comes back") {
    SilentServer silent;
    ProcessResult result = upstream.chat("Ylokh", {"--first-byte-timeout", "0.3", "Hi"}, "",
                                         {{"PROVHOST_UPSTREAM_YLOKH", silent.origin()}});
    check_one_line(result, 4, "provhost: Ylokh: no response within 0.3 s");
  }
  SECTION("the stream stops halfway: stalled, with the text so far on stdout") {
    upstream.emulator.set_fault("ylokh", "stall");
    ProcessResult result = upstream.chat("Ylokh", {"--idle-timeout", "0.3", "Hi"});
    CHECK(result.exit_code == 4);
    CHECK(lines_of(result.err) == std::vector<std::string>{"provhost: Ylokh: stalled: no data for 0.3 s"});
    check_partial(result.out, expected);
  }
  SECTION("--timeout bounds the whole chat") {
    upstream.emulator.set_fault("ylokh", "stall");
    ProcessResult result = upstream.chat("Ylokh", {"--timeout", "0.5", "Hi"});
    CHECK(result.exit_code == 4);
    CHECK(lines_of(result.err) == std::vector<std::string>{"provhost: Ylokh: timed out after 0.5 s"});
    check_partial(result.out, expected);
  }
}

TEST_CASE("upstream errors map the same way for every provider") {
  Upstream upstream;
  struct Fault {
    const char *name;
    int exit_code;
    const char *message;
  };
  const Fault faults[] = {
      {"rate_limit", 3, "rate limited (HTTP 429): Too many requests"},
      {"cloudflare", 3, "blocked by Cloudflare (HTTP 403)"},
      {"server_error", 3, "HTTP 500: Internal server error"},
      {"bad_gateway", 3, "bad gateway (HTTP 502): HTML content"},
  };
  for (const Provider &provider : providers) {
    for (const Fault &fault : faults) {
      INFO(provider.name << " " << fault.name);
      upstream.emulator.set_fault(provider.route, fault.name);
      check_one_line(upstream.chat(provider.name, {"Hi"}), fault.exit_code,
                     std::string("provhost: ") + provider.name + ": " + fault.message);
      upstream.emulator.clear_faults();
    }
  }
}

TEST_CASE("a reset connection is a transfer failure, after five tries for FreeNetfly") {
  Upstream upstream;
  for (const Provider &provider : providers) {
    INFO(provider.name);
    upstream.emulator.clear_requests();
    upstream.emulator.set_fault(provider.route, "reset");
    ProcessResult result = upstream.chat(provider.name, {"Hi"});
    CHECK(result.exit_code == 4);
    CHECK(result.out.empty());
    std::vector<std::string> lines = lines_of(result.err);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back().starts_with(std::string("provhost: ") + provider.name + ": connection failed: "));
    const bool freenetfly = std::string(provider.name) == "FreeNetfly";
    CHECK(upstream.emulator.requests().size() == (freenetfly ? 5 : 1));
    CHECK(lines.size() == (freenetfly ? 5 : 1));
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      CHECK(lines[i].starts_with("provhost: [FreeNetfly] warning: connection failed: "));
      CHECK(lines[i].ends_with("(attempt " + std::to_string(i + 2) + " of 5)"));
    }
    upstream.emulator.clear_faults();
  }
}

TEST_CASE("FreeNetfly succeeds after failed connections, waiting PROVHOST_BACKOFF_SCALE-short backoffs") {
  Upstream upstream;
  upstream.emulator.set_fault("freenetfly", "fail_first", 3);
  ProcessResult result = upstream.chat("FreeNetfly", {"Hi"});
  CHECK(result.exit_code == 0);
  CHECK(result.out == upstream.emulator.expected_text());
  CHECK(upstream.emulator.requests().size() == 4);
  std::vector<std::string> warnings = lines_of(result.err);
  REQUIRE(warnings.size() == 3);
  for (size_t i = 0; i < warnings.size(); ++i) {
    CHECK(warnings[i].starts_with("provhost: [FreeNetfly] warning: connection failed: "));
    CHECK(warnings[i].find("; retrying in ") != std::string::npos);
    CHECK(warnings[i].ends_with("(attempt " + std::to_string(i + 2) + " of 5)"));
  }
}

TEST_CASE("a stream that ends early keeps its text on stdout and fails as truncated") {
  Upstream upstream;
  const std::string expected = upstream.emulator.expected_text();
  SECTION("the body ends cleanly before the protocol's end marker") {
    for (const char *name : {"Ylokh", "ChatgptFree", "FreeNetfly"}) {
      INFO(name);
      upstream.emulator.set_fault(route_of(name), "truncate");
      ProcessResult result = upstream.chat(name, {"Hi"});
      CHECK(result.exit_code == 4);
      CHECK(lines_of(result.err) ==
            std::vector<std::string>{std::string("provhost: ") + name +
                                     ": stream truncated: the answer ended before its end marker"});
      check_partial(result.out, expected);
      upstream.emulator.clear_faults();
    }
  }
  SECTION("the connection closes mid-body") {
    for (const Provider &provider : providers) {
      INFO(provider.name);
      upstream.emulator.set_fault(provider.route, "cut");
      ProcessResult result = upstream.chat(provider.name, {"Hi"});
      CHECK(result.exit_code == 4);
      std::vector<std::string> lines = lines_of(result.err);
      REQUIRE(lines.size() == 1);
      CHECK(lines[0].starts_with(std::string("provhost: ") + provider.name + ": stream truncated: "));
      check_partial(result.out, expected);
      upstream.emulator.clear_faults();
    }
  }
  SECTION("a stalled stream of every provider") {
    for (const Provider &provider : providers) {
      INFO(provider.name);
      upstream.emulator.set_fault(provider.route, "stall");
      ProcessResult result = upstream.chat(provider.name, {"--idle-timeout", "0.2", "Hi"});
      CHECK(result.exit_code == 4);
      CHECK(lines_of(result.err) ==
            std::vector<std::string>{std::string("provhost: ") + provider.name + ": stalled: no data for 0.2 s"});
      check_partial(result.out, expected);
      upstream.emulator.clear_faults();
    }
  }
}

TEST_CASE("a malformed line mid-stream is skipped with a warning, the answer still whole") {
  Upstream upstream;
  for (const Provider &provider : providers) {
    INFO(provider.name);
    upstream.emulator.set_fault(provider.route, "malformed");
    ProcessResult result = upstream.chat(provider.name, {"Hi"});
    CHECK(result.exit_code == 0);
    CHECK(result.out == upstream.emulator.expected_text());
    std::vector<std::string> lines = lines_of(result.err);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].starts_with(std::string("provhost: [") + provider.name + "] warning: "));
    upstream.emulator.clear_faults();
  }
}

TEST_CASE("without -p, a failing provider falls back to the next before any text") {
  Upstream upstream;
  std::vector<std::string> order = fallback_order(upstream);
  REQUIRE(order.size() >= 2);
  const std::string expected = upstream.emulator.expected_text();

  SECTION("the first fails, the second answers") {
    upstream.emulator.set_fault(route_of(order[0]), "rate_limit");
    ProcessResult result = upstream.provhost({"chat", "Hi"});
    CHECK(result.exit_code == 0);
    CHECK(result.out == expected);
    CHECK(lines_of(result.err) ==
          std::vector<std::string>{"provhost: [" + order[0] +
                                   "] warning: rate limited (HTTP 429): Too many requests; trying " + order[1]});
  }
  SECTION("all fail: one error names each") {
    for (const Provider &provider : providers) upstream.emulator.set_fault(provider.route, "server_error");
    ProcessResult result = upstream.provhost({"chat", "Hi"});
    CHECK(result.exit_code == 3);
    CHECK(result.out.empty());
    std::vector<std::string> lines = lines_of(result.err);
    REQUIRE(lines.size() == order.size());
    std::string all = "provhost: all providers failed: ";
    for (size_t i = 0; i < order.size(); ++i) all += (i ? "; " : "") + order[i] + ": HTTP 500: Internal server error";
    CHECK(lines.back() == all);
  }
  SECTION("no fallback once text has been printed") {
    upstream.emulator.set_fault(route_of(order[0]), "cut");
    ProcessResult result = upstream.provhost({"chat", "Hi"});
    CHECK(result.exit_code == 4);
    check_partial(result.out, expected);
    for (const Provider &other : providers) {
      if (other.name == order[0]) continue;
      for (const auto &request : upstream.emulator.requests()) CHECK(request.path != answer_path(other.route));
    }
  }
}

TEST_CASE("Ctrl-C cancels the chat and exits 130, keeping the text so far") {
  Upstream upstream;
  upstream.emulator.set_fault("ylokh", "stall");
  Environment env = base_environment(upstream.emulator.origin());
  provhost::test::BackgroundProcess chat({provhost::test::provhost_binary(), "chat", "-p", "Ylokh", "Hi"}, env);
  REQUIRE(chat.start_error().empty());
  REQUIRE(chat.wait_for_line([](const std::string &) { return true; }));
  chat.send_signal(SIGINT);
  std::optional<int> exit_code = chat.wait(std::chrono::seconds(10));
  REQUIRE(exit_code);
  CHECK(*exit_code == 130);
  CHECK(chat.err().empty());
  CHECK(upstream.emulator.expected_text().starts_with(chat.out_lines().front()));
}
