// The provhost-emulator program: its one line on stdout, its options, its signals, its errors.
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "client.hpp"
#include "support/process.hpp"

using namespace provhost::emulator::test;
using provhost::test::BackgroundProcess;
using provhost::test::run_process;
using provhost::test::TempDir;

namespace {

const std::string program = PROVHOST_EMULATOR_BINARY;

bool is_listening_line(const std::string &line) { return line.starts_with("listening on "); }

bool has_exited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, name, state;
  return !(stat >> pid_field >> name >> state) || state == "Z";
}

}  // namespace

TEST_CASE("the program prints where it listens, serves, and exits 0 on SIGTERM", "[emulator]") {
  BackgroundProcess emulator({program});
  const auto line = emulator.wait_for_line(is_listening_line);
  REQUIRE(line);
  CHECK(line->starts_with("listening on http://127.0.0.1:"));
  const std::string origin = line->substr(std::string("listening on ").size());
  CHECK(get(origin + "/__emulator/text").body == provhost::emulator::default_text());
  CHECK(emulator.out_lines().size() == 1);
  emulator.send_signal(SIGTERM);
  CHECK(emulator.wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("the program exits 0 on SIGINT", "[emulator]") {
  BackgroundProcess emulator({program});
  REQUIRE(emulator.wait_for_line(is_listening_line));
  emulator.send_signal(SIGINT);
  CHECK(emulator.wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("the program takes its text, chunk size and chunk count from the command line", "[emulator]") {
  TempDir folder;
  const auto text_file = folder.write("answer.txt", "Добрый день");
  BackgroundProcess emulator({program, "--text", text_file.string(), "--chunk-size", "4", "--chunks", "3"});
  const auto line = emulator.wait_for_line(is_listening_line);
  REQUIRE(line);
  const std::string origin = line->substr(std::string("listening on ").size());
  // "Добрый день" in 4-byte tokens: "До", "бр", "ый", ...; three of them.
  CHECK(get(origin + "/__emulator/text").body == "Добрый");
  const auto config = get(origin + "/__emulator/config").body;
  CHECK(config.find(R"("chunk_size":4)") != std::string::npos);
}

TEST_CASE("the program listens on a given port", "[emulator]") {
  provhost::emulator::Emulator probe;
  probe.start();
  const uint16_t port = probe.port();
  probe.stop();  // frees a port that was just free
  BackgroundProcess emulator({program, "--port", std::to_string(port)});
  const auto line = emulator.wait_for_line(is_listening_line);
  REQUIRE(line);
  CHECK(*line == "listening on http://127.0.0.1:" + std::to_string(port));
}

TEST_CASE("the program refuses bad input with one line and a non-zero exit", "[emulator]") {
  TempDir folder;
  const auto latin1 = folder.write("latin1.txt", "caf\xE9");
  provhost::emulator::Emulator busy;
  busy.start();
  struct Case {
    std::vector<std::string> arguments;
    const char *reason;
  };
  for (const auto &[arguments, reason] :
       {Case{{"--port", "abc"}, "--port"}, Case{{"--port", "70000"}, "--port"},
        Case{{"--chunk-size", "0"}, "--chunk-size"}, Case{{"--chunks", "-5"}, "--chunks"},
        Case{{"--chunks", "99999999999"}, "--chunks"}, Case{{"--text", "/no/such/file"}, "cannot read /no/such/file"},
        Case{{"--text", latin1.string()}, "not valid UTF-8"}, Case{{"--listen", "nowhere"}, "cannot listen"},
        Case{{"--port", std::to_string(busy.port())}, "cannot listen"}, Case{{"--bogus"}, "bogus"}}) {
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    INFO(argv.back());
    const auto result = run_process(argv, "", std::chrono::seconds(10));
    CHECK_FALSE(result.timed_out);
    CHECK(result.exit_code != 0);
    CHECK(result.out.empty());
    CHECK(result.err.starts_with("provhost-emulator: "));
    CHECK(std::count(result.err.begin(), result.err.end(), '\n') == 1);
    CHECK(result.err.find(reason) != std::string::npos);
  }
}

TEST_CASE("the program stops when the process that started it dies", "[emulator]") {
  // A middle process starts the emulator, waits until it listens, reports its pid and exits.
  int report[2];
  REQUIRE(pipe(report) == 0);
  const pid_t middle = fork();
  REQUIRE(middle >= 0);
  if (middle == 0) {
    int output[2];
    if (pipe(output) != 0) _exit(1);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, output[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, output[0]);
    posix_spawn_file_actions_addclose(&actions, report[0]);
    std::string path = program;
    char *argv[] = {path.data(), nullptr};
    pid_t emulator = 0;
    if (posix_spawn(&emulator, path.c_str(), &actions, nullptr, argv, environ) != 0) _exit(1);
    close(output[1]);
    char c = 0;
    while (read(output[0], &c, 1) == 1 && c != '\n') {
    }
    if (write(report[1], &emulator, sizeof emulator) != sizeof emulator) _exit(1);
    _exit(0);
  }
  close(report[1]);
  pid_t emulator = 0;
  pollfd readable{report[0], POLLIN, 0};
  const bool reported =
      poll(&readable, 1, 10000) == 1 && read(report[0], &emulator, sizeof emulator) == sizeof emulator;
  close(report[0]);
  int status = 0;
  waitpid(middle, &status, 0);
  REQUIRE(reported);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!has_exited(emulator) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const bool exited = has_exited(emulator);
  if (!exited) kill(emulator, SIGKILL);
  CHECK(exited);
}
