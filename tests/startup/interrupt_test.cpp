// Ctrl-C during a chat (host/chat_command.cpp): without --record the process ends in the signal
// handler, with no thread waiting for the signal; with --record the chat is cancelled in order, so
// that its recording is written. Either way: status 130, the text so far, nothing on stderr.
#include <signal.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/process.hpp"

using namespace provhost::test;
using namespace std::chrono_literals;

namespace {

std::string read_text(const std::filesystem::path &file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Runs `chat -p Koala` against an upstream that stalls mid-answer, presses Ctrl-C once text has
// arrived, and checks how the chat ended.
void interrupt_stalled_chat(const provhost::emulator::Emulator &upstream, const std::string &isolation,
                            const std::vector<std::string> &chat_options = {}) {
  std::vector<std::string> argv = {provhost_binary(),
                                   "--plugin-cache",
                                   "off",
                                   "--isolation",
                                   isolation,
                                   "--upstream",
                                   "Koala=" + upstream.origin(),
                                   "chat",
                                   "-p",
                                   "Koala"};
  argv.insert(argv.end(), chat_options.begin(), chat_options.end());
  argv.emplace_back("Hello");
  BackgroundProcess chat(argv, {{"PROVHOST_PLUGIN_PATH", ""}});
  REQUIRE(chat.start_error().empty());
  REQUIRE(chat.wait_for_line([](const std::string &) { return true; }, 60s));
  chat.send_signal(SIGINT);
  const std::optional<int> exit_code = chat.wait(30s);  // an upper bound against a hang only
  REQUIRE(exit_code);
  CHECK(*exit_code == 130);
  CHECK(chat.err().empty());
  const std::vector<std::string> lines = chat.out_lines();
  REQUIRE_FALSE(lines.empty());
  CHECK(upstream.expected_text().starts_with(lines.front()));
  CHECK(lines.front().size() < upstream.expected_text().size());
}

}  // namespace

TEST_CASE("Ctrl-C ends a chat in either isolation mode with status 130 and the text so far") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  upstream.set_fault("koala", "stall");
  for (const char *isolation : {"none", "process"}) {
    INFO(isolation);
    interrupt_stalled_chat(upstream, isolation);
  }
}

TEST_CASE("Ctrl-C with --record cancels the chat in order: its recording is written") {
  provhost::emulator::Emulator upstream;
  upstream.start();
  upstream.set_fault("koala", "stall");
  TempDir dir;
  const std::filesystem::path har_file = dir.path() / "chat.har";
  interrupt_stalled_chat(upstream, "process", {"--record", har_file.string()});
  const std::string har = read_text(har_file);
  CHECK(har.find("\"entries\"") != std::string::npos);
  CHECK(har.find(upstream.origin() + "/api/gpt/") != std::string::npos);
}
