// The engine's side of the trust boundary, in-process: hostile plugins' events and an answer over
// the size limit, against real sessions (tests/trust/plugins/hostile.c, the bundled Koala).
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/core/registry.hpp>

#include "support/process.hpp"

using namespace provhost::core;

namespace {

// What one chat's sink heard; the engine runs on the test's thread (run_until_idle).
struct Heard final : ChatSink {
  std::string text;
  std::vector<std::string> warnings;
  std::optional<ChatError> error;
  int ends = 0;

  void on_text(std::string_view piece) override { text += piece; }
  void on_warning(const std::string &provider, std::string_view message) override {
    warnings.push_back(provider + ": " + std::string(message));
  }
  void on_done() override { ++ends; }
  void on_error(const ChatError &failure) override {
    error = failure;
    ++ends;
  }
};

std::shared_ptr<Heard> chat(Engine &engine, const std::string &provider) {
  auto heard = std::make_shared<Heard>();
  ChatSpec spec;
  spec.provider = provider;
  spec.messages = {{"user", "hi"}};
  engine.submit(spec, heard);
  engine.run_until_idle();
  return heard;
}

}  // namespace

TEST_CASE("text that is not UTF-8 reaches the sink repaired, with one warning per chat") {
  Registry registry;
  registry.load({PROVHOST_HOSTILE_PLUGIN_DIR});
  Engine engine(registry, {});
  for (int i = 0; i < 2; ++i) {
    auto heard = chat(engine, "BadText");
    CHECK_FALSE(heard->error);
    // The escape sequence is text the answer holds: kept; the ill-formed bytes are not, nor the halves of a
    // character split between two events, though they would make one together.
    CHECK(heard->text == "ok \xEF\xBF\xBD\xEF\xBF\xBD end \x1b[1m! caf\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(heard->warnings ==
          std::vector<std::string>{"BadText: the plugin sent text that is not UTF-8; shown as U+FFFD"});
  }
}

TEST_CASE("events after close, from another session or thread, and text after finish are dropped, never read") {
  Registry registry;
  registry.load({PROVHOST_HOSTILE_PLUGIN_DIR});
  Engine engine(registry, {});
  const uint64_t stray_before = RawSession::stray_events();
  // Each session reports through the table of the one closed before it, and from a thread while closing.
  for (int i = 0; i < 3; ++i) {
    INFO("chat " << i);
    auto heard = chat(engine, "LateEvents");
    REQUIRE(heard->ends == 1);
    CHECK_FALSE(heard->error);
    CHECK(heard->text == "hello");
    CHECK(std::count(heard->warnings.begin(), heard->warnings.end(),
                     "LateEvents: the plugin sent text after the end of its answer; dropped") == 1);
    if (i > 0) {
      CHECK(std::count(heard->warnings.begin(), heard->warnings.end(),
                       "LateEvents: the plugin reported an event for another session, or after its session closed; "
                       "dropped") == 1);
    }
  }
  // Two from a thread per session closed, two through a closed session's table per later chat.
  CHECK(RawSession::stray_events() - stray_before == 3 * 2 + 2 * 2);
}

TEST_CASE("an answer longer than max_answer_bytes fails the chat, streamed or not") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  Registry registry;
  registry.load({provhost::test::plugin_dir()});
  const std::string expected = upstream.expected_text();
  REQUIRE(expected.size() > 20);
  for (bool stream : {true, false}) {
    INFO("stream " << stream);
    EngineOptions options;
    options.upstreams["Koala"] = upstream.origin();
    options.limits.max_answer_bytes = 20;
    Engine engine(registry, options);
    auto heard = std::make_shared<Heard>();
    ChatSpec spec;
    spec.provider = "Koala";
    spec.stream = stream;
    spec.messages = {{"user", "hi"}};
    engine.submit(spec, heard);
    engine.run_until_idle();
    REQUIRE(heard->error);
    CHECK(heard->error->kind == ErrorKind::protocol);
    CHECK(heard->error->detail == "the answer is longer than the limit of 20 bytes (--max-answer-bytes)");
    CHECK(heard->text.size() <= 20);

    options.limits.max_answer_bytes = expected.size();  // exactly enough
    Engine roomy(registry, options);
    auto whole = std::make_shared<Heard>();
    roomy.submit(spec, whole);
    roomy.run_until_idle();
    CHECK_FALSE(whole->error);
    CHECK(whole->text == expected);
  }
}

TEST_CASE("a flood of empty tool-call pieces counts against max_answer_bytes too") {
  Registry registry;
  registry.load({PROVHOST_HOSTILE_PLUGIN_DIR});
  EngineOptions options;
  options.limits.max_answer_bytes = 1024 * 1024;  // 100,000 pieces of 64 bytes each are more
  Engine engine(registry, options);
  auto heard = chat(engine, "ToolFlood");
  REQUIRE(heard->error);
  CHECK(heard->error->kind == ErrorKind::protocol);
  CHECK(heard->error->detail == "the answer is longer than the limit of 1048576 bytes (--max-answer-bytes)");
}

TEST_CASE("a plugin asking for requests without end is stopped at max_requests") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  Registry registry;
  registry.load({PROVHOST_HOSTILE_PLUGIN_DIR});
  EngineOptions options;
  options.upstreams["RequestLoop"] = upstream.origin();
  options.limits.max_requests = 5;
  Engine engine(registry, options);
  auto heard = chat(engine, "RequestLoop");
  REQUIRE(heard->error);
  CHECK(heard->error->kind == ErrorKind::plugin);
  CHECK(heard->error->detail == "the plugin asked for more than 5 requests in one chat (--max-requests)");
  CHECK(upstream.requests().size() == 5);
}
