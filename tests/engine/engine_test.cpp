// The engine in-process, against the upstream emulator: the ABI loop, retries, timeouts,
// cancellation and concurrency, with the real plugins and with Probe, a plugin that misbehaves
// on request (probe_plugin.cpp).
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <condition_variable>
#include <emulator/emulator.hpp>
#include <fstream>
#include <mutex>
#include <optional>
#include <provhost/bundled_providers.hpp>
#include <provhost/core/chat.hpp>
#include <sstream>
#include <thread>

#include "support/process.hpp"
#include "support/silent_server.hpp"

using namespace provhost::core;
using provhost::emulator::Emulator;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

using provhost::test::SilentServer;

// Everything one chat's sink was told, in order. Thread-safe: the engine runs on its own thread.
class Recorder final : public ChatSink {
 public:
  void on_start(const std::string &provider, const std::string &model) override {
    std::lock_guard lock(mutex_);
    events_.push_back("start " + provider + " " + model);
  }
  void on_text(std::string_view text) override {
    std::lock_guard lock(mutex_);
    if (events_.empty() || events_.back() != "text") events_.push_back("text");
    text_ += text;
    changed_.notify_all();
  }
  void on_warning(const std::string &provider, std::string_view message) override {
    std::lock_guard lock(mutex_);
    warnings_.push_back(provider + ": " + std::string(message));
  }
  void on_done() override { end("done"); }
  void on_error(const ChatError &error) override {
    std::lock_guard lock(mutex_);
    error_ = error;
    end_locked("error");
  }

  // Waits (bounded) for the chat to end; false when it did not.
  bool wait_end(milliseconds limit = seconds(15)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return ends_ > 0; });
  }
  bool wait_text(milliseconds limit = seconds(15)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return !text_.empty(); });
  }

  std::vector<std::string> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }
  std::vector<std::string> warnings() const {
    std::lock_guard lock(mutex_);
    return warnings_;
  }
  std::optional<ChatError> error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }
  int ends() const {
    std::lock_guard lock(mutex_);
    return ends_;
  }

 private:
  void end(const char *what) {
    std::lock_guard lock(mutex_);
    end_locked(what);
  }
  void end_locked(const char *what) {
    events_.push_back(what);
    ++ends_;
    changed_.notify_all();
  }

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> events_;
  std::vector<std::string> warnings_;
  std::string text_;
  std::optional<ChatError> error_;
  int ends_ = 0;
};

// The emulator, the plugins (Probe first) and an engine running on its own thread. Providers
// without an upstream in `options` are sent to the emulator.
class Harness {
 public:
  // `isolation`: the plugins' sessions run in worker processes (provhost-plugin-worker, next to the
  // test) instead of this one.
  explicit Harness(EngineOptions options = {}, std::optional<IsolationOptions> isolation = std::nullopt) {
    upstream.start();
    if (isolation) registry.use_isolation(*isolation);
    registry.load({PROBE_PLUGIN_DIR, provhost::test::plugin_dir()});
    for (const auto &provider : provhost::bundled::providers) {
      options.upstreams.try_emplace(std::string(provider.name), upstream.origin());
    }
    options.upstreams.try_emplace("Probe", upstream.origin());
    engine = std::make_unique<Engine>(registry, std::move(options));
    loop = std::thread([this] { engine->run(); });
  }
  ~Harness() { shutdown(); }

  // Stops the loop and destroys the engine, with whatever chats it still has.
  void shutdown() {
    if (!engine) return;
    engine->stop();
    loop.join();
    engine.reset();
  }

  std::shared_ptr<Recorder> start(ChatSpec spec, std::shared_ptr<ChatHandle> *handle = nullptr) {
    auto recorder = std::make_shared<Recorder>();
    auto submitted = engine->submit(std::move(spec), recorder);
    if (handle) *handle = submitted;
    return recorder;
  }
  std::shared_ptr<Recorder> chat(ChatSpec spec) {
    auto recorder = start(std::move(spec));
    REQUIRE(recorder->wait_end());
    return recorder;
  }

  Emulator upstream;
  Registry registry;
  std::unique_ptr<Engine> engine;
  std::thread loop;
};

ChatSpec ask(std::string provider, std::string options_json = "{}") {
  ChatSpec spec;
  spec.provider = std::move(provider);
  spec.messages = {{"user", "Hello"}};
  spec.options_json = std::move(options_json);
  return spec;
}

std::vector<std::string> read_lines(const std::filesystem::path &file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

long count(const std::vector<std::string> &lines, const std::string &wanted) {
  return std::count(lines.begin(), lines.end(), wanted);
}

// A port nothing listens on: bound, then closed.
std::string closed_origin() {
  int port = 0;
  {
    SilentServer server;
    port = std::stoi(server.origin().substr(server.origin().rfind(':') + 1));
  }
  return "http://127.0.0.1:" + std::to_string(port);
}

}  // namespace

TEST_CASE("a streamed answer arrives whole, between on_start and on_done") {
  Harness harness;
  auto chat = harness.chat(ask("Ylokh"));
  CHECK(chat->text() == harness.upstream.expected_text());
  CHECK(chat->events() == std::vector<std::string>{"start Ylokh gpt-3.5-turbo", "text", "done"});
  CHECK(harness.upstream.requests().size() == 1);
}

TEST_CASE("many chats run at once on the engine's one thread") {
  Harness harness;
  std::vector<std::pair<std::string, std::shared_ptr<Recorder>>> chats;
  for (int round = 0; round < 5; ++round) {
    for (const auto &provider : provhost::bundled::providers) {
      chats.emplace_back(provider.name, harness.start(ask(std::string(provider.name))));
    }
  }
  for (auto &[provider, chat] : chats) {
    INFO(provider);
    REQUIRE(chat->wait_end());
    CHECK(chat->text() == harness.upstream.expected_text());
    CHECK(chat->events().back() == "done");
  }
}

TEST_CASE("chats submitted from several threads at once are all answered, however their wakes fall") {
  Harness harness;
  constexpr int threads = 4, chats_each = 10;
  std::vector<std::vector<std::shared_ptr<Recorder>>> started(threads);
  std::vector<std::thread> submitters;
  for (int i = 0; i < threads; ++i) {
    submitters.emplace_back([&, i] {
      for (int j = 0; j < chats_each; ++j) started[i].push_back(harness.start(ask("Ylokh")));
    });
  }
  for (std::thread &submitter : submitters) submitter.join();
  for (const auto &chats : started) {
    for (const auto &chat : chats) {
      REQUIRE(chat->wait_end());
      CHECK(chat->text() == harness.upstream.expected_text());
      CHECK(chat->events().back() == "done");
    }
  }
  CHECK(harness.upstream.requests().size() == threads * chats_each);
}

TEST_CASE("a plugin that throws across the ABI fails its own chat, and is closed exactly once") {
  provhost::test::TempDir dir;
  Harness harness;
  for (const char *function : {"session_open", "next_request", "on_response_start", "on_body", "on_response_end"}) {
    INFO(function);
    std::filesystem::path journal = dir.path() / function;
    auto chat = harness.chat(
        ask("Probe", std::string(R"({"throw_in": ")") + function + R"(", "journal": ")" + journal.string() + "\"}"));
    REQUIRE(chat->error());
    CHECK(chat->error()->kind == ErrorKind::plugin);
    CHECK(chat->error()->message() ==
          std::string("Probe: the plugin threw an exception from ") + function + ": probe: thrown on purpose");
    std::vector<std::string> calls = read_lines(journal);
    CHECK(count(calls, "open") == 1);
    // A session that throws from session_open never existed, so there is nothing to close.
    CHECK(count(calls, "close") == (std::string(function) == "session_open" ? 0 : 1));
  }
  auto after = harness.chat(ask("Ylokh"));
  CHECK(after->text() == harness.upstream.expected_text());
}

TEST_CASE("a response that ends without finish is truncated, after the text that arrived") {
  Harness harness;
  auto chat = harness.chat(ask("Probe", R"({"finish": false})"));
  CHECK(chat->text() == harness.upstream.answer_body("ylokh"));
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::truncated);
  CHECK(chat->error()->message() == "Probe: stream truncated: the answer ended before its end marker");
  CHECK(chat->events() == std::vector<std::string>{"start Probe probe-1", "text", "error"});
}

TEST_CASE("PH_DONE from on_body stops the transfer and completes the answer") {
  provhost::test::TempDir dir;
  Harness harness;
  std::string journal = (dir.path() / "journal").string();
  auto chat = harness.chat(ask("Probe", R"({"done_after": 10, "journal": ")" + journal + "\"}"));
  CHECK(chat->events().back() == "done");
  CHECK(chat->text() == harness.upstream.answer_body("ylokh").substr(0, 10));
  CHECK(read_lines(journal) == std::vector<std::string>{"open", "next", "start 200", "next", "close"});
}

TEST_CASE("a discarded response is dropped and the session is asked again") {
  provhost::test::TempDir dir;
  Harness harness;
  std::string journal = (dir.path() / "journal").string();
  auto chat = harness.chat(ask("Probe", R"({"discard_first": true, "journal": ")" + journal + "\"}"));
  CHECK(chat->events().back() == "done");
  CHECK(chat->text() == harness.upstream.answer_body("ylokh"));
  CHECK(harness.upstream.requests().size() == 2);
  CHECK(read_lines(journal) ==
        std::vector<std::string>{"open", "next", "start 200", "next", "start 200", "end", "next", "close"});
}

TEST_CASE("an HTTP error is read and mapped by the host") {
  Harness harness;
  auto chat = harness.chat(ask("Probe", R"({"path": "/nope"})"));
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::http_status);
  CHECK(chat->error()->http_status == 404);
  CHECK(chat->error()->message() == "Probe: HTTP 404: no route for POST /nope");
  CHECK(chat->events() == std::vector<std::string>{"error"});
}

TEST_CASE("a rate limit is retried after the Retry-After the upstream asks for, scaled") {
  EngineOptions options;
  options.backoff_scale = 0.01;
  Harness harness(options);
  harness.upstream.set_fault("ylokh", "rate_limit", 0, 2);
  // The policy's own backoff (5 s scaled: about 50 ms) loses to Retry-After (1 s scaled: 10 ms).
  auto chat = harness.chat(
      ask("Probe", R"({"retry": {"attempts": 3, "backoff_ms": 5000, "multiplier": 1, "on": ["rate_limit"]}})"));
  CHECK(chat->events().back() == "done");
  CHECK(chat->text() == harness.upstream.answer_body("ylokh"));
  CHECK(harness.upstream.requests().size() == 3);
  CHECK(chat->warnings() ==
        std::vector<std::string>{"Probe: rate limited (HTTP 429); retrying in 0.01 s (attempt 2 of 3)",
                                 "Probe: rate limited (HTTP 429); retrying in 0.01 s (attempt 3 of 3)"});
}

TEST_CASE("attempts end at the policy's maximum with the last failure") {
  EngineOptions options;
  options.backoff_scale = 0.01;
  Harness harness(options);
  harness.upstream.set_fault("ylokh", "rate_limit");
  auto chat = harness.chat(
      ask("Probe", R"({"retry": {"attempts": 3, "backoff_ms": 10, "multiplier": 2, "on": ["rate_limit"]}})"));
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::rate_limited);
  CHECK(chat->error()->message() == "Probe: rate limited (HTTP 429): Too many requests");
  CHECK(harness.upstream.requests().size() == 3);
}

TEST_CASE("server errors are retried only when the policy covers them") {
  EngineOptions options;
  options.backoff_scale = 0.01;
  Harness harness(options);
  harness.upstream.set_fault("ylokh", "server_error", 0, 1);
  SECTION("covered") {
    auto chat = harness.chat(
        ask("Probe", R"({"retry": {"attempts": 2, "backoff_ms": 10, "multiplier": 2, "on": ["server_error"]}})"));
    CHECK(chat->events().back() == "done");
    CHECK(harness.upstream.requests().size() == 2);
  }
  SECTION("not covered") {
    auto chat = harness.chat(
        ask("Probe", R"({"retry": {"attempts": 2, "backoff_ms": 10, "multiplier": 2, "on": ["rate_limit"]}})"));
    REQUIRE(chat->error());
    CHECK(chat->error()->message() == "Probe: HTTP 500: Internal server error");
    CHECK(harness.upstream.requests().size() == 1);
  }
}

TEST_CASE("failed connections are retried with backoff until one succeeds") {
  EngineOptions options;
  options.backoff_scale = 0.01;
  Harness harness(options);
  harness.upstream.set_fault("ylokh", "fail_first", 2);
  auto chat = harness.chat(
      ask("Probe", R"({"retry": {"attempts": 3, "backoff_ms": 1000, "multiplier": 2, "on": ["connect"]}})"));
  CHECK(chat->events().back() == "done");
  CHECK(chat->text() == harness.upstream.answer_body("ylokh"));
  CHECK(harness.upstream.requests().size() == 3);
  REQUIRE(chat->warnings().size() == 2);
  CHECK(chat->warnings()[0].find("Probe: connection failed: ") == 0);
  CHECK(chat->warnings()[1].find("(attempt 3 of 3)") != std::string::npos);
}

TEST_CASE("a request is never retried once its body reached the session") {
  EngineOptions options;
  options.backoff_scale = 0.01;
  Harness harness(options);
  harness.upstream.set_fault("ylokh", "cut");
  auto chat = harness.chat(
      ask("Probe", R"({"retry": {"attempts": 5, "backoff_ms": 10, "multiplier": 2, "on": ["connect", "timeout"]}})"));
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::truncated);
  CHECK(chat->error()->message().find("Probe: stream truncated: ") == 0);
  CHECK_FALSE(chat->text().empty());
  CHECK(harness.upstream.answer_body("ylokh").starts_with(chat->text()));
  CHECK(harness.upstream.requests().size() == 1);
}

TEST_CASE("an upstream nobody listens on is a connection error") {
  EngineOptions options;
  options.upstreams["Probe"] = closed_origin();
  Harness harness(options);
  auto chat = harness.chat(ask("Probe"));
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::connection);
  CHECK(chat->error()->message().find("Probe: connection failed: ") == 0);
}

TEST_CASE("an invalid upstream fails every chat of its provider, naming why, and only its provider") {
  // The engine works a provider's origin out once and keeps it, the error too: each chat still fails.
  EngineOptions options;
  options.upstreams["Probe"] = "ftp://127.0.0.1:1";
  Harness harness(options);
  for (int round = 0; round < 2; ++round) {
    auto chat = harness.chat(ask("Probe"));
    REQUIRE(chat->error());
    CHECK(chat->error()->kind == ErrorKind::bad_request);
    CHECK(chat->error()->message() == "Probe: invalid upstream 'ftp://127.0.0.1:1': the scheme must be http or https");
  }
  auto other = harness.chat(ask("Ylokh"));
  CHECK_FALSE(other->error());
  CHECK(other->text() == harness.upstream.expected_text());
}

TEST_CASE("timeouts: no response, stalled, per attempt and in total") {
  SECTION("nothing comes back within the first-byte timeout") {
    SilentServer silent;
    EngineOptions options;
    options.timeouts.first_byte_ms = 200;
    options.upstreams["Probe"] = silent.origin();
    Harness harness(options);
    auto chat = harness.chat(ask("Probe"));
    REQUIRE(chat->error());
    CHECK(chat->error()->kind == ErrorKind::timeout);
    CHECK(chat->error()->message() == "Probe: no response within 0.2 s");
  }
  SECTION("the stream stops mid-answer") {
    EngineOptions options;
    options.timeouts.idle_ms = 200;
    Harness harness(options);
    harness.upstream.set_fault("ylokh", "stall");
    auto chat = harness.chat(ask("Ylokh"));
    REQUIRE(chat->error());
    CHECK(chat->error()->kind == ErrorKind::stalled);
    CHECK(chat->error()->message() == "Ylokh: stalled: no data for 0.2 s");
    CHECK_FALSE(chat->text().empty());
    CHECK(harness.upstream.expected_text().starts_with(chat->text()));
  }
  SECTION("the plugin's timeout bounds one attempt") {
    Harness harness;
    harness.upstream.set_fault("ylokh", "stall");
    auto chat = harness.chat(ask("Probe", R"({"timeout_ms": 300})"));
    REQUIRE(chat->error());
    CHECK(chat->error()->kind == ErrorKind::timeout);
    CHECK(chat->error()->message() == "Probe: timed out after 0.3 s");
  }
  SECTION("the total timeout bounds the chat, retries included") {
    EngineOptions options;
    options.timeouts.total_ms = 300;
    Harness harness(options);
    harness.upstream.set_fault("ylokh", "stall");
    auto chat = harness.chat(ask("Ylokh"));
    REQUIRE(chat->error());
    CHECK(chat->error()->kind == ErrorKind::timeout);
    CHECK(chat->error()->message() == "Ylokh: timed out after 0.3 s");
  }
}

TEST_CASE("cancel() from another thread ends a chat at once and closes its session") {
  provhost::test::TempDir dir;
  Harness harness;
  harness.upstream.set_fault("ylokh", "stall");
  std::string journal = (dir.path() / "journal").string();
  std::shared_ptr<ChatHandle> handle;
  auto chat = harness.start(ask("Probe", R"({"journal": ")" + journal + "\"}"), &handle);
  REQUIRE(chat->wait_text());
  handle->cancel();
  REQUIRE(chat->wait_end());
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::cancelled);
  CHECK(count(read_lines(journal), "close") == 1);
  SECTION("cancelling again, or after the end, does nothing") {
    handle->cancel();
    harness.upstream.clear_faults();
    auto after = harness.chat(ask("Ylokh"));
    CHECK(after->events().back() == "done");
    CHECK(chat->ends() == 1);
  }
}

TEST_CASE("what cannot be resolved fails through on_error, without on_start") {
  Harness harness;
  auto unknown = harness.chat(ask("Nope"));
  REQUIRE(unknown->error());
  CHECK(unknown->error()->kind == ErrorKind::unknown_provider);
  CHECK(unknown->events() == std::vector<std::string>{"error"});

  ChatSpec spec = ask("Koala");
  spec.model = "no-such-model";
  auto missing = harness.chat(spec);
  REQUIRE(missing->error());
  CHECK(missing->error()->kind == ErrorKind::model_not_found);

  ChatSpec empty = ask("Ylokh");
  empty.messages.clear();
  auto nothing = harness.chat(empty);
  REQUIRE(nothing->error());
  CHECK(nothing->error()->kind == ErrorKind::bad_request);
}

TEST_CASE("a failing provider falls back to the next one before any text") {
  Harness harness;
  // Probe's folder is searched first, so Probe is the first working provider; it fails, and the
  // next working provider answers with its default model.
  harness.upstream.set_fault("ylokh", "server_error");
  ChatSpec spec;
  spec.messages = {{"user", "Hello"}};
  auto chat = harness.chat(spec);
  std::vector<std::string> events = chat->events();
  REQUIRE(events.size() == 3);
  CHECK(events[0].starts_with("start "));
  CHECK_FALSE(events[0].starts_with("start Probe"));
  CHECK(events[2] == "done");
  CHECK(chat->text() == harness.upstream.expected_text());
  std::string next = events[0].substr(6, events[0].find(' ', 6) - 6);
  CHECK(chat->warnings() == std::vector<std::string>{"Probe: HTTP 500: Internal server error; trying " + next});
}

TEST_CASE("when every provider fails, one error names them all") {
  Harness harness;
  for (const char *route : {"ylokh", "koala", "chatgptfree", "freenetfly", "flowgpt"}) {
    harness.upstream.set_fault(route, "cloudflare");
  }
  ChatSpec spec;
  spec.messages = {{"user", "Hello"}};
  auto chat = harness.chat(spec);
  REQUIRE(chat->error());
  const ChatError error = *chat->error();
  CHECK(error.message().starts_with("all providers failed: Probe: blocked by Cloudflare (HTTP 403); "));
  REQUIRE(error.attempts.size() >= 2);
  std::string expected = "all providers failed: ";
  for (const ChatError &attempt : error.attempts) {
    CHECK(attempt.kind == ErrorKind::blocked);
    expected += (&attempt == &error.attempts.front() ? "" : "; ") + attempt.message();
  }
  CHECK(error.message() == expected);
  CHECK(error.kind == ErrorKind::blocked);
}

TEST_CASE("an engine destroyed with chats in flight cancels them") {
  Harness harness;
  harness.upstream.set_fault("ylokh", "stall");
  auto chat = harness.start(ask("Ylokh"));
  REQUIRE(chat->wait_text());
  harness.shutdown();
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::cancelled);
  CHECK(chat->ends() == 1);
}

TEST_CASE("ChatgptFree recovers from a stale cached nonce: the 403 is discarded and the page fetched again") {
  Harness harness;
  auto first = harness.chat(ask("ChatgptFree"));  // fetches the page; the provider caches its nonce
  REQUIRE(first->events().back() == "done");
  harness.upstream.clear_requests();
  harness.upstream.set_fault("chatgptfree", "stale_nonce");
  auto second = harness.chat(ask("ChatgptFree"));
  CHECK(second->events().back() == "done");
  CHECK(second->text() == harness.upstream.expected_text());
  std::vector<std::string> steps;
  for (const auto &request : harness.upstream.requests()) steps.push_back(request.method + " " + request.path);
  CHECK(steps == std::vector<std::string>{"POST /wp-admin/admin-ajax.php", "GET /", "POST /wp-admin/admin-ajax.php"});
  CHECK(harness.upstream.requests().back().body.find("_wpnonce=" + harness.upstream.current_nonce()) !=
        std::string::npos);
}

TEST_CASE("connections are reused from one request to the next") {
  Harness harness;
  for (int i = 0; i < 3; ++i) REQUIRE(harness.chat(ask("Koala"))->events().back() == "done");
  CHECK(harness.upstream.open_connections() == 1);
  REQUIRE(harness.chat(ask("ChatgptFree"))->events().back() == "done");  // a page, then the answer
  CHECK(harness.upstream.open_connections() == 1);
}

TEST_CASE("an answer complete before its response ends does not wait for the rest") {
  Harness harness;
  harness.upstream.set_fault("ylokh", "stall");  // the response stops halfway and stays open
  auto chat = harness.chat(ask("Probe", R"({"done_after": 10})"));
  CHECK(chat->events().back() == "done");
  CHECK(chat->text() == harness.upstream.answer_body("ylokh").substr(0, 10));
}

TEST_CASE("a request whose URL libcurl refuses fails its chat as the plugin's fault, naming why") {
  Harness harness;
  // libcurl refuses strings longer than 8,000,000 bytes for any option; its URL parser, which the
  // engine asks before setting up a transfer (request_checks.hpp), refuses the URL first.
  std::string path = "/" + std::string(8'000'001, 'a');
  auto chat = harness.chat(ask("Probe", R"({"path": ")" + path + "\"}"));
  REQUIRE(chat->error());
  CHECK(chat->error()->kind == ErrorKind::plugin);
  CHECK(chat->error()->message().starts_with("Probe: the plugin asked for a URL that cannot be parsed ("));
  CHECK(chat->error()->message().size() < 300);
  CHECK(chat->events() == std::vector<std::string>{"error"});
  CHECK(harness.upstream.requests().empty());
}

TEST_CASE("a plugin that blocks delays only its own chat: the engine and other providers go on") {
  provhost::test::TempDir dir;
  std::string fifo = (dir.path() / "fifo").string();
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  Harness harness;
  auto blocked = harness.start(ask("Probe", R"({"block_on": ")" + fifo + "\"}"));
  int writer = ::open(fifo.c_str(), O_WRONLY);  // returns once Probe waits inside on_body
  REQUIRE(writer >= 0);
  auto other = harness.chat(ask("Ylokh"));
  CHECK(other->events().back() == "done");
  CHECK(other->text() == harness.upstream.expected_text());
  CHECK(blocked->ends() == 0);
  ::close(writer);
  REQUIRE(blocked->wait_end());
  CHECK(blocked->events().back() == "done");
  CHECK(blocked->text() == harness.upstream.answer_body("ylokh"));
}

TEST_CASE("a slow plugin holds its transfer back without it counting as stalled, and gets every byte") {
  EngineOptions options;
  options.timeouts.idle_ms = 300;
  Harness harness(options);
  provhost::emulator::Config config = harness.upstream.config();
  config.chunks = 1600;
  config.write_size = 64 * 1024;
  harness.upstream.configure(config);
  std::string expected = harness.upstream.answer_body("ylokh");
  INFO(expected.size());
  REQUIRE(expected.size() > 4 * 64 * 1024);  // several times what a transfer buffers before it pauses  // several times
                                             // what a transfer buffers before it pauses
  // Each call into the plugin takes longer than the idle timeout while the upstream waits on us.
  auto chat = harness.chat(ask("Probe", R"({"body_delay_ms": 400})"));
  CHECK(chat->events().back() == "done");
  CHECK(chat->text() == expected);
}

TEST_CASE("with PROVHOST_LOG=debug every state transition of a chat and its transfer is logged, in order") {
  Emulator upstream;
  upstream.start();
  // The transitions are the engine's, whichever backend runs the plugin; in-process, so that the
  // sanitized build (whose runtime makes calls a sandboxed worker refuses, e.g. pipe2) runs it too.
  auto result = provhost::test::run_process(
      {provhost::test::provhost_binary(), "--isolation", "none", "--plugin-dir", PROBE_PLUGIN_DIR, "--upstream",
       "Probe=" + upstream.origin(), "chat", "-p", "Probe", "Hi"},
      "", seconds(30), {{"PROVHOST_LOG", "debug"}});
  INFO(result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == upstream.answer_body("ylokh"));
  std::vector<std::string> transitions;
  std::istringstream lines(result.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("provhost: [engine] debug: ")) transitions.push_back(line.substr(26));
  }
  CHECK(transitions == std::vector<std::string>{
                           "chat 1: queued -> opening",
                           "chat 1: opening -> requesting",
                           "chat 1: requesting -> transferring",
                           "transfer 2: connecting -> awaiting-response",
                           "transfer 2: awaiting-response -> receiving-headers",
                           "transfer 2: receiving-headers -> awaiting-action",
                           "transfer 2: awaiting-action -> reading",
                           "transfer 2: reading -> settling",
                           "transfer 2: settling -> finished",
                           "chat 1: transferring -> requesting",
                           "chat 1: requesting -> closing",
                           "chat 1: closing -> done",
                       });
}

TEST_CASE("a chat's output held by its caller pauses its transfer, without counting as stalled, until released") {
  EngineOptions options;
  options.timeouts.idle_ms = 300;
  Harness harness(options);
  provhost::emulator::Config config = harness.upstream.config();
  config.chunks = 8000;
  config.write_size = 64 * 1024;
  harness.upstream.configure(config);
  std::string expected = harness.upstream.answer_body("ylokh");
  REQUIRE(expected.size() > 16 * 64 * 1024);  // far more than a held transfer buffers
  std::shared_ptr<ChatHandle> handle;
  auto held = harness.start(ask("Probe"), &handle);
  handle->hold_output(true);
  // Another chat runs to its end meanwhile: the loop goes on, the held one does not.
  auto other = harness.chat(ask("Probe"));
  CHECK(other->events().back() == "done");
  CHECK(other->text().size() == expected.size());
  CHECK(held->ends() == 0);
  CHECK(held->text().size() < expected.size() / 2);
  handle->hold_output(false);
  REQUIRE(held->wait_end());
  CHECK(held->events().back() == "done");
  CHECK(held->text().size() == expected.size());
  CHECK(held->text() == expected);
}

TEST_CASE("a worker that dies mid-batch costs its chat; the next worker streams the next chat whole") {
  Harness harness({}, IsolationOptions{});
  provhost::emulator::Config config;
  config.chunks = 20'000;  // about 2 MB: many batches through the body region, which the new worker reuses
  config.write_size = 16'384;
  harness.upstream.configure(config);
  const std::string whole = harness.upstream.answer_body("ylokh");
  REQUIRE(whole.size() > (1u << 20));

  auto crashed = harness.chat(ask("Probe", R"({"crash_in": "on_body"})"));
  REQUIRE(crashed->error());
  CHECK(crashed->error()->kind == ErrorKind::plugin);
  // SIGSEGV, or SIGABRT where a sanitizer takes the fault first.
  CHECK_THAT(crashed->error()->message(), Catch::StartsWith("Probe: the plugin crashed: SIG"));
  for (int chat = 0; chat < 2; ++chat) {
    auto next = harness.chat(ask("Probe"));
    CHECK_FALSE(next->error());
    CHECK(next->text() == whole);
  }
}
