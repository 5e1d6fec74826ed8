// Scaling out: two stateless `provhost serve` instances behind a real HAProxy that checks
// /health/ready. While 200 clients stream through the balancer, one instance gets SIGTERM: its
// streams finish, new requests go to the other instance, no client sees an error, and the instance
// exits 0. The configuration is the one the README shows.
#include <rapidjson/document.h>
#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <emulator/emulator.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"
#include "support/machine_server.hpp"
#include "support/process.hpp"

using namespace provhost;
using namespace provhost::serve_test;
using namespace std::chrono_literals;

namespace {

// `provhost serve` on an ephemeral port, every provider sent to `upstream`.
class Instance {
 public:
  explicit Instance(const emulator::Emulator &upstream) {
    std::vector<std::string> argv = {
        test::provhost_binary(), "--upstream", "Koala=" + upstream.origin(), "serve", "--listen", "127.0.0.1:0"};
    process_ = std::make_unique<test::BackgroundProcess>(
        argv, test::Environment{{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_API_KEY", ""}});
    auto line = process_->wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
    if (!line) FAIL("provhost serve did not start: " << process_->err());
    port = std::stoi(line->substr(line->rfind(':') + 1));
  }
  int port = 0;
  test::BackgroundProcess &process() { return *process_; }
  size_t chats_answered() const {
    size_t count = 0;
    const std::string log = process_->err();
    for (size_t at = log.find("POST /v1/chat/completions 200"); at != std::string::npos;
         at = log.find("POST /v1/chat/completions 200", at + 1)) {
      ++count;
    }
    return count;
  }

 private:
  std::unique_ptr<test::BackgroundProcess> process_;
};

class HaProxy : public test::MachineServer {
 public:
  HaProxy(const test::TempDir &dir, const Instance &a, const Instance &b) {
    start("/usr/sbin/haproxy", [&](int port) {
      std::string config =
          "global\n  maxconn 4000\n"
          "defaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n"
          "  timeout server 60s\n  retries 3\n  retry-on conn-failure empty-response 503\n"
          "  option redispatch\n  option http-server-close\n"
          "frontend provhost\n  bind 127.0.0.1:" +
          std::to_string(port) +
          "\n  default_backend serve\n"
          "backend serve\n  balance roundrobin\n  option httpchk GET /health/ready\n"
          "  default-server check inter 100ms fall 1 rise 1\n"
          "  server a 127.0.0.1:" +
          std::to_string(a.port) + "\n  server b 127.0.0.1:" + std::to_string(b.port) + "\n";
      return std::vector<std::string>{"/usr/sbin/haproxy", "-db", "-f",
                                      dir.write("haproxy-" + std::to_string(port) + ".cfg", config).string()};
    });
  }
};

const std::string stream_body =
    R"({"model": "Koala/gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hi"}]})";
const std::string whole_body = R"({"model": "Koala/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})";

std::string stream_text(const std::string &body, bool &complete) {
  auto events = sse_data(body);
  complete = !events.empty() && events.back() == "[DONE]";
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    rapidjson::Document doc;
    doc.Parse(events[i].c_str());
    if (doc.HasParseError() || !doc.HasMember("choices")) {
      complete = false;  // an error event
      continue;
    }
    const auto &delta = doc["choices"][0]["delta"];
    if (delta.HasMember("content")) text.append(delta["content"].GetString(), delta["content"].GetStringLength());
  }
  return text;
}

// One client's stream: opened, then held after its first bytes until every stream is open.
struct Stream {
  int status = 0;
  std::string text;
  bool complete = false;
  std::string failure;  // what went wrong on the socket, "" when nothing
};

}  // namespace

TEST_CASE("two serve instances behind HAProxy: SIGTERM to one while 200 clients stream costs no client anything") {
  emulator::Config config;
  config.chunks = 400;  // about 80 KB of events: more than one read, less than serve lets a client lag
  config.write_size = 512;
  emulator::Emulator upstream(config);
  upstream.start();
  const std::string expected = upstream.expected_text();
  Instance a(upstream), b(upstream);
  test::TempDir dir;
  HaProxy haproxy(dir, a, b);
  // Both instances pass their first health check before any client comes.
  auto checked = [](Instance &instance) { return instance.process().err().find("GET /health/ready 200"); };
  for (int i = 0; i < 500 && (checked(a) == std::string::npos || checked(b) == std::string::npos); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  REQUIRE(checked(a) != std::string::npos);
  REQUIRE(checked(b) != std::string::npos);

  constexpr int streams = 200;
  std::vector<Stream> results(streams);
  std::mutex mutex;
  std::condition_variable changed;
  int opened = 0;
  bool go = false;
  std::vector<std::thread> clients;
  for (int i = 0; i < streams; ++i) {
    clients.emplace_back([&, i] {
      Stream &result = results[i];
      bool counted = false;
      auto count_open = [&] {
        std::lock_guard lock(mutex);
        ++opened;
        counted = true;
        changed.notify_all();
      };
      try {
        Client client(static_cast<uint16_t>(haproxy.port), 60s);
        client.send_request("POST", "/v1/chat/completions", stream_body);
        result.status = client.read_header().status;
        while (client.read_some_body().find("\"content\"") == std::string::npos) {
        }
        count_open();
        {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] { return go; });
        }
        result.text = stream_text(client.read_rest(), result.complete);
      } catch (const std::exception &e) {
        result.failure = e.what();
        if (!counted) count_open();
      }
    });
  }
  {
    std::unique_lock lock(mutex);
    REQUIRE(changed.wait_for(lock, 60s, [&] { return opened == streams; }));
  }
  // Every client has read only its first bytes: the rest waits in serve, HAProxy and the sockets.
  a.process().send_signal(SIGTERM);

  // New requests while `a` drains: each goes to `b` (at once, or redispatched by HAProxy).
  std::vector<int> statuses;
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i) {
    Client client(static_cast<uint16_t>(haproxy.port), 30s);
    client.send_request("POST", "/v1/chat/completions", whole_body);
    auto response = client.read_response();
    statuses.push_back(response.status);
    rapidjson::Document doc;
    doc.Parse(response.body.c_str());
    texts.push_back(!doc.HasParseError() && doc.HasMember("choices")
                        ? doc["choices"][0]["message"]["content"].GetString()
                        : response.body);
  }
  {
    std::lock_guard lock(mutex);
    go = true;
  }
  changed.notify_all();
  for (auto &client : clients) client.join();

  int failed = 0;
  for (const Stream &result : results) {
    if (result.status != 200 || !result.complete || result.text != expected || !result.failure.empty()) ++failed;
  }
  INFO("failed streams: " << failed << "; first failure: " << [&] {
    for (const Stream &r : results)
      if (!r.failure.empty()) return r.failure;
    return std::string();
  }());
  CHECK(failed == 0);
  for (size_t i = 0; i < statuses.size(); ++i) {
    INFO("request " << i << " after SIGTERM");
    CHECK(statuses[i] == 200);
    CHECK(texts[i] == expected);
  }
  CHECK(a.process().wait(30s) == 0);
  CHECK(a.chats_answered() > 0);  // `a` carried a share of the streams, and they all arrived whole
  CHECK(b.chats_answered() >= static_cast<size_t>(streams) / 4 + statuses.size());
}
