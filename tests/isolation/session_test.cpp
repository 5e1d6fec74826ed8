// Sessions out of process: a plugin that crashes, loops, eats memory or reaches for the system in
// a session costs its own chat (ErrorKind::plugin, naming the cause), fallback still happens
// before the first text, and every other provider's chats go on, in `chat` and in `serve`.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "e2e/e2e.hpp"
#include "serve/http_client.hpp"
#include "support/eventually.hpp"
#include "support/process.hpp"

namespace fs = std::filesystem;
using provhost::e2e::Upstream;
using provhost::test::BackgroundProcess;
using provhost::test::eventually;
using provhost::test::ProcessResult;
using provhost::test::TempDir;
using namespace std::chrono_literals;

namespace {

const fs::path session_dir = PROVHOST_HOSTILE_SESSION_DIR;

const std::vector<std::string> hostile = {"OpenSegv",  "ThreadOpen", "BodySegv",   "BodyLoop",
                                          "BodyAlloc", "BodyOpen",   "BodySocket", "Calm"};

// Global options that put the hostile providers beside the bundled ones, all sent to the emulator.
std::vector<std::string> with_hostile(const Upstream &upstream, const fs::path &cache,
                                      std::vector<std::string> command) {
  std::vector<std::string> args = {"--plugin-dir", session_dir.string(), "--plugin-cache", cache.string()};
  for (const std::string &name : hostile)
    args.insert(args.end(), {"--upstream", name + "=" + upstream.emulator.origin()});
  args.insert(args.end(), command.begin(), command.end());
  return args;
}

}  // namespace

TEST_CASE("a plugin that breaks in a session fails its chat with the cause, named") {
  Upstream upstream;
  TempDir cache;
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"OpenSegv", "provhost: OpenSegv: the plugin crashed: SIGSEGV\n"},
      {"BodySegv", "provhost: BodySegv: the plugin crashed: SIGSEGV\n"},
      {"BodyAlloc", "provhost: BodyAlloc: the plugin went over its memory limit of 1 GiB (killed)\n"},
      {"BodyOpen", "provhost: BodyOpen: blocked by the sandbox: openat\n"},
      {"BodySocket", "provhost: BodySocket: blocked by the sandbox: socket\n"},
      {"ThreadOpen", "provhost: ThreadOpen: blocked by the sandbox: openat\n"},
  };
  for (const auto &[provider, message] : expected) {
    INFO(provider);
    ProcessResult r = upstream.provhost(with_hostile(upstream, cache.path(), {"chat", "-p", provider, "Hi"}));
    CHECK(r.exit_code == 3);
    CHECK(r.out.empty());
    CHECK(r.err == message);
  }
  ProcessResult calm = upstream.provhost(with_hostile(upstream, cache.path(), {"chat", "-p", "Calm", "Hi"}));
  CHECK(calm.exit_code == 0);
  CHECK_FALSE(calm.out.empty());
  ProcessResult koala = upstream.provhost(with_hostile(upstream, cache.path(), {"chat", "-p", "Koala", "Hello"}));
  CHECK(koala.exit_code == 0);
  CHECK(koala.out == upstream.emulator.expected_text());
}

TEST_CASE("answers whose results frames are far larger than the host's read-ahead arrive byte for byte") {
  Upstream upstream;
  TempDir cache;
  // Tokens of 4 KiB: each batch of body bytes makes a results frame of a few hundred KiB, read in
  // part ahead and in part straight into the frame; the small frames (open, the request) before
  // them are read ahead whole.
  provhost::emulator::Config config;
  for (int i = 0; i < 1000; ++i) config.text += "read ahead ";
  config.chunks = 300;
  config.chunk_size = 4096;
  config.write_size = 16384;
  upstream.emulator.configure(config);
  const std::string expected = upstream.emulator.expected_text();
  REQUIRE(expected.size() > 1'000'000);
  for (const char *provider : {"Koala", "Ylokh"}) {
    INFO(provider);
    ProcessResult r = upstream.provhost(
        {"--plugin-cache", cache.path().string(), "--isolation", "process", "chat", "-p", provider, "Hello"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == expected);
  }
}

TEST_CASE("the plugin-memory option sets the limit a worker is killed at") {
  Upstream upstream;
  TempDir cache;
  ProcessResult r = upstream.provhost(
      with_hostile(upstream, cache.path(), {"--plugin-memory", "512M", "chat", "-p", "BodyAlloc", "Hi"}));
  CHECK(r.exit_code == 3);
  CHECK(r.err == "provhost: BodyAlloc: the plugin went over its memory limit of 512 MiB (killed)\n");
  ProcessResult bad = upstream.provhost({"--plugin-memory", "12K", "list"});
  CHECK(bad.exit_code == 2);
}

TEST_CASE("a provider whose worker crashes before the first text falls back to the next") {
  Upstream upstream;
  TempDir cache, config;
  fs::path file = config.write("c.toml", "provider_order = [\"BodySegv\", \"Calm\"]\n");
  ProcessResult r = upstream.provhost(
      with_hostile(upstream, cache.path(), {"--config", file.string(), "chat", "-m", "raw-model", "Hi"}));
  CHECK(r.exit_code == 0);
  CHECK_FALSE(r.out.empty());
  CHECK(r.err == "provhost: [BodySegv] warning: the plugin crashed: SIGSEGV; trying Calm\n");
}

TEST_CASE("the chat timeout ends a chat whose plugin loops, and so does the plugin timeout") {
  Upstream upstream;
  TempDir cache;
  ProcessResult timed = upstream.provhost(with_hostile(
      upstream, cache.path(), {"--plugin-timeout", "60", "chat", "--timeout", "2", "-p", "BodyLoop", "Hi"}));
  CHECK(timed.exit_code == 4);
  CHECK_THAT(timed.err, Catch::Contains("BodyLoop: timed out after 2 s"));

  ProcessResult killed = upstream.provhost(
      with_hostile(upstream, cache.path(), {"--plugin-timeout", "1", "chat", "-p", "BodyLoop", "Hi"}));
  CHECK(killed.exit_code == 3);
  CHECK_THAT(killed.err, Catch::Contains("BodyLoop: the plugin did not answer within 1 s (killed)"));
}

TEST_CASE("Ctrl-C ends a chat whose plugin loops at once") {
  Upstream upstream;
  TempDir cache;
  std::vector<std::string> argv = {provhost::test::provhost_binary()};
  for (const std::string &arg : with_hostile(
           upstream, cache.path(), {"--plugin-timeout", "600", "chat", "--timeout", "600", "-p", "BodyLoop", "Hi"}))
    argv.push_back(arg);
  BackgroundProcess chat(argv, provhost::e2e::base_environment(upstream.emulator.origin()));
  // The plugin says "looping" on its way into the loop.
  REQUIRE(eventually([&] { return chat.err().find("looping") != std::string::npos; }));
  chat.send_signal(SIGINT);
  std::optional<int> code = chat.wait(5s);  // far below any limit of the plugin's
  REQUIRE(code);
  CHECK(*code == 130);
}

TEST_CASE("serve finishes other streams byte for byte while a plugin crashes, and answers the next request") {
  provhost::emulator::Config config;
  config.chunks = 3000;  // long enough to be in flight together
  provhost::emulator::Emulator emulator(config);
  emulator.start();
  TempDir cache;
  // The plugins that crash, hang or exit while loading are there too: serve starts all the same.
  std::vector<std::string> argv = {provhost::test::provhost_binary(),
                                   "--plugin-dir",
                                   session_dir.string(),
                                   "--plugin-dir",
                                   PROVHOST_HOSTILE_SCAN_DIR,
                                   "--scan-timeout",
                                   "2",
                                   "--plugin-cache",
                                   cache.path().string()};
  for (const std::string &name : hostile) argv.insert(argv.end(), {"--upstream", name + "=" + emulator.origin()});
  argv.insert(argv.end(), {"--upstream", "Koala=" + emulator.origin(), "serve", "--listen", "127.0.0.1:0"});
  BackgroundProcess serve(argv, provhost::test::Environment{{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_API_KEY", ""}});
  auto line = serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  REQUIRE(line);
  auto port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  auto body = [](const std::string &provider, bool stream) {
    return R"({"provider": ")" + provider + R"(", "stream": )" + (stream ? "true" : "false") +
           R"(, "messages": [{"role": "user", "content": "Hello"}]})";
  };
  auto text_of = [](const std::string &sse) {
    std::string text;
    for (const std::string &event : provhost::serve_test::sse_data(sse)) {
      if (event == "[DONE]") continue;
      rapidjson::Document doc;
      doc.Parse(event.c_str());
      if (doc.HasParseError() || !doc.HasMember("choices")) return std::string("unreadable event: ") + event;
      const auto &delta = doc["choices"][0]["delta"];
      if (delta.HasMember("content")) text.append(delta["content"].GetString(), delta["content"].GetStringLength());
    }
    return text;
  };

  std::vector<std::string> streams(3);
  std::vector<std::thread> clients;
  for (auto &out : streams)
    clients.emplace_back([&, port] {
      out = provhost::serve_test::fetch(port, "POST", "/v1/chat/completions", body("Koala", true)).body;
    });
  auto crashed = provhost::serve_test::fetch(port, "POST", "/v1/chat/completions", body("BodySegv", false));
  for (auto &client : clients) client.join();

  CHECK(crashed.status == 500);
  rapidjson::Document error;
  error.Parse(crashed.body.c_str());
  REQUIRE_FALSE(error.HasParseError());
  CHECK(std::string(error["error"]["message"].GetString()) == "BodySegv: the plugin crashed: SIGSEGV");
  for (const std::string &stream : streams) CHECK(text_of(stream) == emulator.expected_text());

  auto next = provhost::serve_test::fetch(port, "POST", "/v1/chat/completions", body("Koala", false));
  CHECK(next.status == 200);
  auto again = provhost::serve_test::fetch(port, "POST", "/v1/chat/completions", body("BodySegv", false));
  CHECK(again.status == 500);
}
