// Proxies: the real provhost reaches the emulator through a real tinyproxy (HTTP) and a real Dante
// server (SOCKS5), started by the test on 127.0.0.1 with a configuration in a temporary folder,
// given with --proxy or, as libcurl reads them, in the environment.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "e2e.hpp"
#include "support/machine_server.hpp"

using namespace provhost::e2e;
using provhost::test::BackgroundProcess;
using provhost::test::MachineServer;
using provhost::test::TempDir;

namespace {

class Tinyproxy : public MachineServer {
 public:
  explicit Tinyproxy(const TempDir &dir) {
    start("/usr/bin/tinyproxy", [&](int port) {
      std::string config = dir.write("tinyproxy.conf", "Port " + std::to_string(port) +
                                                           "\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 30\n"
                                                           "MaxClients 20\nLogLevel Info\n")
                               .string();
      return std::vector<std::string>{"/usr/bin/tinyproxy", "-d", "-c", config};
    });
  }
};

class Dante : public MachineServer {
 public:
  explicit Dante(const TempDir &dir) {
    start("/usr/sbin/danted", [&](int port) {
      std::string config =
          dir.write("danted.conf", "logoutput: stderr\ninternal: 127.0.0.1 port = " + std::to_string(port) +
                                       "\nexternal: 127.0.0.1\nclientmethod: none\nsocksmethod: none\n"
                                       "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }\n"
                                       "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect }\n")
              .string();
      return std::vector<std::string>{
          "/usr/sbin/danted", "-f", config, "-p", (dir.path() / "danted.pid").string(), "-N", "1"};
    });
  }
  // Dante logs every connection it passes on: how many went to `target_port`. Its log line may
  // come a moment after the client is done, so this waits (at most 5 s) for `expected` of them and
  // returns the count it saw last, which the test compares with `expected`.
  size_t connections_to(int target_port, size_t expected) const {
    const std::string target = " 127.0.0.1." + std::to_string(target_port) + "\n";
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      const std::string text = log();
      size_t count = 0;
      for (size_t at = text.find(target); at != std::string::npos; at = text.find(target, at + 1)) ++count;
      if (count >= expected || std::chrono::steady_clock::now() >= give_up) return count;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
};

bool went_through_tinyproxy(const Upstream &upstream) {
  auto requests = upstream.emulator.requests();
  return requests.size() == 1 && requests[0].header("Via").find("tinyproxy") != std::string::npos;
}

}  // namespace

TEST_CASE("an HTTP proxy: --proxy, or http_proxy from the environment unless NO_PROXY says otherwise") {
  TempDir dir;
  Tinyproxy proxy(dir);
  Upstream upstream;
  const std::string expected = upstream.emulator.expected_text();

  SECTION("--proxy") {
    ProcessResult result = upstream.chat("Ylokh", {"--proxy", proxy.url("http"), "Hi"});
    CHECK(result.exit_code == 0);
    CHECK(result.out == expected);
    CHECK(went_through_tinyproxy(upstream));
  }
  SECTION("http_proxy in the environment") {
    ProcessResult result = upstream.chat("Ylokh", {"Hi"}, "", {{"http_proxy", proxy.url("http")}});
    CHECK(result.exit_code == 0);
    CHECK(result.out == expected);
    CHECK(went_through_tinyproxy(upstream));
  }
  SECTION("NO_PROXY exempts a host from the environment's proxy") {
    ProcessResult result =
        upstream.chat("Ylokh", {"Hi"}, "", {{"http_proxy", proxy.url("http")}, {"NO_PROXY", "127.0.0.1"}});
    CHECK(result.exit_code == 0);
    CHECK(result.out == expected);
    REQUIRE(upstream.emulator.requests().size() == 1);
    CHECK(upstream.emulator.requests()[0].header("Via").empty());
  }
  SECTION("an explicit --proxy is used for every host, NO_PROXY notwithstanding") {
    ProcessResult result =
        upstream.chat("Ylokh", {"--proxy", proxy.url("http"), "Hi"}, "", {{"NO_PROXY", "127.0.0.1"}});
    CHECK(result.exit_code == 0);
    CHECK(went_through_tinyproxy(upstream));
  }
}

TEST_CASE("a SOCKS5 proxy: socks5:// and socks5h:// with --proxy, or ALL_PROXY") {
  TempDir dir;
  Dante proxy(dir);
  Upstream upstream;
  const std::string expected = upstream.emulator.expected_text();

  for (const char *scheme : {"socks5", "socks5h"}) {
    INFO(scheme);
    upstream.emulator.clear_requests();
    ProcessResult result = upstream.chat("FlowGpt", {"--proxy", proxy.url(scheme), "Hi"});
    CHECK(result.exit_code == 0);
    CHECK(result.out == expected);
    CHECK(upstream.emulator.requests().size() == 1);
  }
  ProcessResult result = upstream.chat("Koala", {"Hi"}, "", {{"ALL_PROXY", proxy.url("socks5h")}});
  CHECK(result.exit_code == 0);
  CHECK(result.out == expected);
  CHECK(proxy.connections_to(upstream.emulator.port(), 3) == 3);
}

TEST_CASE("a proxy that is not there is a transfer failure") {
  Upstream upstream;
  std::string proxy = "http://127.0.0.1:" + std::to_string(provhost::test::free_port());
  ProcessResult result = upstream.chat("Ylokh", {"--proxy", proxy, "Hi"});
  CHECK(result.exit_code == 4);
  CHECK(result.out.empty());
  REQUIRE(lines_of(result.err).size() == 1);
  CHECK(result.err.starts_with("provhost: Ylokh: connection failed: "));
  CHECK(upstream.emulator.requests().empty());
}
