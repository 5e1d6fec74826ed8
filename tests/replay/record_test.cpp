// provhost chat --record, as a user runs it against the emulator: the chat's exchange as HAR, the
// API key masked, replaying into the plugin to the same answer.
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <fstream>
#include <provhost/testing/har.hpp>
#include <provhost/testing/plugin.hpp>
#include <sstream>

#include "support/process.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
namespace kit = provhost::testing;
using namespace std::chrono_literals;

namespace {

std::string read_file(const fs::path &file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("chat --record writes the chat as HAR, the API key masked, and the recording replays") {
  TempDir dir;
  fs::create_directories(dir.path() / "plugins");
  const fs::path plugin = dir.path() / "plugins" / "provhost-example.so";
  fs::copy_file(PROVHOST_RECORD_EXAMPLE_PLUGIN, plugin);
  provhost::emulator::Emulator upstream;
  upstream.start();
  const fs::path har_file = dir.path() / "chat.har";
  ProcessResult r =
      run_process({provhost_binary(), "--plugin-dir", (dir.path() / "plugins").string(), "--upstream",
                   "Example=" + upstream.origin(), "chat", "-p", "Example", "--record", har_file.string(), "Hello"},
                  "", 60s, {{"PROVHOST_EXAMPLE_API_KEY", "test-key"}, {"PROVHOST_PLUGIN_PATH", ""}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string json = read_file(har_file);
  CHECK(json.find("test-key") == std::string::npos);
  const kit::Har har = kit::parse_har(json);
  REQUIRE(har.entries.size() == 1);
  CHECK(har.entries[0].request.header("authorization") == "********");
  CHECK(har.entries[0].request.url == upstream.origin() + "/v1/chat/completions");
  CHECK(har.entries[0].response.status == 200);
  REQUIRE(har.answer);
  CHECK(har.answer->text == upstream.expected_text());
  CHECK(har.answer->finished);

  kit::FakeHost host;
  kit::Plugin example(plugin.string(), host);
  const kit::Replay replay = kit::replay_har(example, har);
  for (const std::string &problem : replay.problems) FAIL_CHECK(problem);
  CHECK(replay.ok());
  CHECK(replay.run.outcome.text() == upstream.expected_text());
}

TEST_CASE("serve --record writes each chat into the folder as HAR") {
  TempDir dir;
  provhost::emulator::Emulator upstream;
  upstream.start();
  BackgroundProcess serve({provhost_binary(), "--upstream", "Koala=" + upstream.origin(), "serve", "--listen",
                           "127.0.0.1:0", "--record", dir.path().string()},
                          {{"PROVHOST_API_KEY", ""}});
  auto line = serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  REQUIRE(line);
  const std::string port = line->substr(line->rfind(':') + 1);
  for (int chat = 0; chat < 2; ++chat) {
    ProcessResult r = run_process({"curl", "-sS", "-H", "Content-Type: application/json", "-d",
                                   R"({"model": "Koala/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})",
                                   "http://127.0.0.1:" + port + "/v1/chat/completions"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  serve.terminate();
  std::vector<kit::Har> recordings;
  for (const auto &entry : fs::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().rfind("chat-", 0) == 0);
    recordings.push_back(kit::read_har_file(entry.path().string()));
  }
  REQUIRE(recordings.size() == 2);
  for (const kit::Har &har : recordings) {
    REQUIRE(har.answer);
    CHECK(har.answer->text == upstream.expected_text());
    CHECK(har.provider == "Koala");
    REQUIRE(har.entries.size() == 1);
    CHECK(har.entries[0].request.url == upstream.origin() + "/api/gpt/");
  }
}

TEST_CASE("serve --record needs a folder that exists") {
  ProcessResult r = run_process({provhost_binary(), "serve", "--record", "/nonexistent/folder"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--record") != std::string::npos);
}

TEST_CASE("chat --record to a file that cannot be written is a usage error, before any chat") {
  ProcessResult r = run_process({provhost_binary(), "chat", "--record", "/nonexistent/folder/chat.har", "Hello"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "provhost: --record /nonexistent/folder/chat.har cannot be written\n");
}
