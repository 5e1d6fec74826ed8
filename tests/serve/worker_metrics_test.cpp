// /metrics counts plugin workers that crash, by cause, and the workers started again after a crash: the real
// `provhost serve` with the hostile test plugins of tests/isolation (a SIGSEGV, an allocation past the memory
// limit, a system call the sandbox forbids, a loop past --plugin-timeout), and promtool accepts the exposition.
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "http_client.hpp"
#include "support/process.hpp"

using namespace provhost;
using namespace provhost::serve_test;

TEST_CASE("/metrics counts plugin worker crashes by provider and cause, and the restarts after them") {
  emulator::Emulator upstream;
  upstream.start();
  test::TempDir cache;
  std::vector<std::string> argv = {test::provhost_binary(),
                                   "--plugin-dir",
                                   PROVHOST_HOSTILE_SESSION_DIR,
                                   "--plugin-cache",
                                   cache.path().string(),
                                   "--plugin-timeout",
                                   "1"};
  const std::vector<std::string> hostile = {"BodySegv", "BodyAlloc", "BodyOpen", "BodyLoop"};
  for (const std::string &name : hostile) argv.insert(argv.end(), {"--upstream", name + "=" + upstream.origin()});
  argv.insert(argv.end(), {"serve", "--listen", "127.0.0.1:0"});
  test::BackgroundProcess serve(argv, test::Environment{{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_API_KEY", ""}});
  auto line = serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  REQUIRE(line);
  const auto port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  auto chat = [port](const std::string &provider) {
    return fetch(port, "POST", "/v1/chat/completions",
                 R"({"provider": ")" + provider + R"(", "messages": [{"role": "user", "content": "Hello"}]})")
        .status;
  };
  // Each chat fails once its worker is gone, which is counted before the chat hears of it.
  CHECK(chat("BodySegv") == 500);
  CHECK(chat("BodySegv") == 500);  // a new worker (a restart), which crashes too
  CHECK(chat("BodyAlloc") == 500);
  CHECK(chat("BodyOpen") == 500);
  CHECK(chat("BodyLoop") == 500);

  auto metrics = fetch(port, "GET", "/metrics");
  REQUIRE(metrics.status == 200);
  using Catch::Contains;
  CHECK_THAT(metrics.body,
             Contains("provhost_plugin_worker_crashes_total{provider=\"BodySegv\",cause=\"signal\"} 2\n"));
  CHECK_THAT(metrics.body,
             Contains("provhost_plugin_worker_crashes_total{provider=\"BodyAlloc\",cause=\"memory\"} 1\n"));
  CHECK_THAT(metrics.body,
             Contains("provhost_plugin_worker_crashes_total{provider=\"BodyOpen\",cause=\"sandbox\"} 1\n"));
  CHECK_THAT(metrics.body, Contains("provhost_plugin_worker_crashes_total{provider=\"BodyLoop\",cause=\"hang\"} 1\n"));
  // The second chat's worker is a restart. A worker may also be started for what the lane still has to do after a
  // crash (closing the failed session), when it comes after the backoff: so at least one, and never one per crash
  // more than happened.
  const std::string restarts = "provhost_plugin_worker_restarts_total{provider=\"BodySegv\"} ";
  const auto at = metrics.body.find(restarts);
  REQUIRE(at != std::string::npos);
  const int segv_restarts = std::stoi(metrics.body.substr(at + restarts.size()));
  CHECK(segv_restarts >= 1);
  CHECK(segv_restarts <= 2);

  REQUIRE(std::filesystem::exists("/usr/bin/promtool"));  // scripts/deps installs Debian's prometheus
  auto check = test::run_process({"/usr/bin/promtool", "check", "metrics"}, metrics.body);
  INFO("promtool: " << check.out << check.err);
  CHECK(check.exit_code == 0);
}
