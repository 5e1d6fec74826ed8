// /metrics as Prometheus reads it: the real serve in front of the emulator answers a few chats (one
// of them retried), `promtool check metrics` (Debian's prometheus package) accepts the exposition,
// and a real Prometheus started by the test scrapes it and answers a query for the request counter.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <emulator/emulator.hpp>
#include <string>
#include <thread>

#include "http_client.hpp"
#include "support/machine_server.hpp"
#include "support/process.hpp"

using namespace provhost;
using namespace provhost::serve_test;
using namespace std::chrono_literals;

namespace {

class Prometheus : public test::MachineServer {
 public:
  Prometheus(const test::TempDir &dir, int target_port) {
    std::string config =
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: provhost\n"
        "    static_configs:\n      - targets: ['127.0.0.1:" +
        std::to_string(target_port) + "']\n";
    std::string config_file = dir.write("prometheus.yml", config).string();
    start("/usr/bin/prometheus", [&](int port) {
      return std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + config_file,
                                      "--storage.tsdb.path=" + (dir.path() / ("data-" + std::to_string(port))).string(),
                                      "--web.listen-address=127.0.0.1:" + std::to_string(port)};
    });
  }
};

}  // namespace

TEST_CASE("/metrics passes promtool, and a real Prometheus scrapes the request counter from it") {
  emulator::Emulator upstream;
  upstream.start();
  test::BackgroundProcess serve(
      {test::provhost_binary(), "--upstream", "FreeNetfly=" + upstream.origin(), "serve", "--listen", "127.0.0.1:0"},
      test::Environment{{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_API_KEY", ""}, {"PROVHOST_BACKOFF_SCALE", "0.01"}});
  auto line = serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
  REQUIRE(line);
  const auto port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));

  upstream.set_fault("freenetfly", "fail_first", 1);  // the first request is reset; FreeNetfly retries those
  for (bool stream : {false, true}) {
    Client client(port);
    client.send_request("POST", "/v1/chat/completions",
                        std::string(R"({"model": "FreeNetfly/gpt-3.5-turbo", "stream": )") +
                            (stream ? "true" : "false") + R"(, "messages": [{"role": "user", "content": "Hi"}]})");
    REQUIRE(client.read_response().status == 200);
  }
  Client client(port);
  client.send_request("GET", "/metrics", "");
  auto metrics = client.read_response();
  REQUIRE(metrics.status == 200);
  CHECK(metrics.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(metrics.body,
             Catch::Contains("provhost_requests_total{endpoint=\"chat.completions\",provider=\"FreeNetfly\","
                             "model=\"gpt-3.5-turbo\",status=\"200\"} 2\n"));
  CHECK_THAT(metrics.body, Catch::Contains("provhost_retries_total{provider=\"FreeNetfly\",kind=\"connection\"} 1\n"));
  CHECK_THAT(metrics.body, Catch::Contains("provhost_streams_in_flight 0\n"));

  REQUIRE(std::filesystem::exists("/usr/bin/promtool"));  // scripts/deps installs Debian's prometheus
  auto check = test::run_process({"/usr/bin/promtool", "check", "metrics"}, metrics.body);
  INFO("promtool: " << check.out << check.err);
  CHECK(check.exit_code == 0);

  test::TempDir dir;
  Prometheus prometheus(dir, port);
  // Prometheus scrapes every second; ask until the counter is there (or 60 s have passed).
  std::string value;
  for (auto give_up = std::chrono::steady_clock::now() + 60s;
       value.empty() && std::chrono::steady_clock::now() < give_up; std::this_thread::sleep_for(200ms)) {
    Client query(static_cast<uint16_t>(prometheus.port));
    query.send_request("GET", "/api/v1/query?query=sum(provhost_requests_total)", "");
    auto answer = query.read_response();
    rapidjson::Document doc;
    doc.Parse(answer.body.c_str());
    if (doc.HasParseError() || !doc.HasMember("data") || !doc["data"]["result"].IsArray() ||
        doc["data"]["result"].Empty()) {
      continue;
    }
    value = doc["data"]["result"][0]["value"][1].GetString();
  }
  INFO("prometheus: " << prometheus.log());
  CHECK(value == "2");
}
