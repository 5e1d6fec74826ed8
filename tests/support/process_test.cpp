#include "support/process.hpp"

#include <signal.h>

#include <catch2/catch.hpp>

using namespace provhost::test;
using namespace std::chrono_literals;

TEST_CASE("run_process captures stdout, stderr and the exit code") {
  ProcessResult r = run_process({"sh", "-c", "echo out; echo err >&2; exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK_FALSE(r.timed_out);
  CHECK(r.term_signal == 0);
}

TEST_CASE("run_process feeds stdin larger than a pipe buffer without deadlocking") {
  std::string input(1 << 20, 'x');
  input += "end";
  ProcessResult r = run_process({"cat"}, input);
  CHECK(r.exit_code == 0);
  CHECK(r.out == input);
}

TEST_CASE("run_process kills a process that outlives its limit") {
  ProcessResult r = run_process({"sleep", "30"}, "", 100ms);
  CHECK(r.timed_out);
  CHECK(r.term_signal == SIGKILL);
}

TEST_CASE("run_process reports a signal separately from an exit code") {
  ProcessResult r = run_process({"sh", "-c", "kill -SEGV $$"});
  CHECK(r.term_signal == SIGSEGV);
  CHECK(r.exit_code == 128 + SIGSEGV);
}

TEST_CASE("run_process adds and removes environment variables") {
  ProcessResult r = run_process({"sh", "-c", "echo \"$PROVHOST_TEST_VAR-${HOME:-unset}\""}, "", 10s,
                                {{"PROVHOST_TEST_VAR", "set"}, {"HOME", ""}});
  CHECK(r.out == "set-unset\n");
}

TEST_CASE("run_process reports a program that does not exist") {
  ProcessResult r = run_process({"/nonexistent/provhost-no-such-program"});
  CHECK(r.exit_code == 127);
  CHECK_THAT(r.err, Catch::Contains("No such file"));
}

TEST_CASE("BackgroundProcess finds a line, then terminates the process") {
  BackgroundProcess server({"sh", "-c", "echo starting; echo 'listening on http://127.0.0.1:1234'; exec sleep 30"});
  REQUIRE(server.start_error().empty());
  auto line = server.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  REQUIRE(line);
  CHECK(*line == "listening on http://127.0.0.1:1234");
  CHECK(server.out_lines().front() == "starting");
  CHECK(server.terminate() == 128 + SIGTERM);
}

TEST_CASE("BackgroundProcess stops waiting when the process ends without the line") {
  BackgroundProcess quitter({"sh", "-c", "echo nothing here; echo oops >&2; exit 4"});
  CHECK_FALSE(quitter.wait_for_line([](const std::string &l) { return l == "ready"; }));
  CHECK(quitter.wait(10s) == 4);
  CHECK(quitter.err() == "oops\n");
}

TEST_CASE("BackgroundProcess gives up waiting for a line after its limit") {
  BackgroundProcess silent({"sleep", "30"});
  CHECK_FALSE(silent.wait_for_line([](const std::string &) { return true; }, 50ms));
  CHECK_FALSE(silent.wait(0ms));
}

TEST_CASE("TempDir is removed with its contents") {
  std::filesystem::path kept;
  {
    TempDir dir;
    kept = dir.path();
    dir.write("sub/file.txt", "hello");
    CHECK(std::filesystem::is_regular_file(kept / "sub/file.txt"));
  }
  CHECK_FALSE(std::filesystem::exists(kept));
}

TEST_CASE("the build tree paths point into the build folder") {
  CHECK(provhost_binary() == build_dir() + "/bin/provhost");
  CHECK(plugin_dir().rfind(build_dir(), 0) == 0);
}
