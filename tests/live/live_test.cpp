// Live plugin folders, end to end: the real `provhost serve` watching a folder while a test drops a
// plugin in, replaces it by another version or by a broken file, removes it, or copies it slowly,
// with chats in flight. The upstream is a gate that starts each answer at once and, for the model
// "hold", finishes it only when the test releases it, so a chat stays in flight exactly as long as
// the test needs. Every wait is for an event the server reports, bounded only to prevent a hang.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../serve/http_client.hpp"
#include "live_plugins.hpp"
#include "support/eventually.hpp"
#include "support/process.hpp"

using namespace provhost;
using namespace provhost::serve_test;
using namespace provhost::live_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// The upstream: answers GET /<model> with "begin|", then "end|"; /hold waits for release() first.
class Gate {
 public:
  Gate() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr *>(&address), size) == 0);
    REQUIRE(::listen(listener_, 512) == 0);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr *>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Gate() {
    release();
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, 30s, [&] { return active_ == 0; });
  }
  Gate(const Gate &) = delete;
  Gate &operator=(const Gate &) = delete;

  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Every held answer goes on, and later ones are not held.
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }
  size_t held() {
    std::lock_guard lock(mutex_);
    return held_;
  }

 private:
  void accept_loop() {
    for (;;) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      {
        std::lock_guard lock(mutex_);
        ++active_;
      }
      std::thread([this, fd] {
        answer(fd);
        ::close(fd);
        std::lock_guard lock(mutex_);
        --active_;
        changed_.notify_all();
      }).detach();
    }
  }

  void answer(int fd) {
    timeval limit{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<size_t>(n));
    }
    const bool hold = request.rfind("GET /hold ", 0) == 0;
    auto send = [fd](const std::string &bytes) { return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) > 0; };
    if (!send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              "6\r\nbegin|\r\n"))
      return;
    if (hold) {
      std::unique_lock lock(mutex_);
      ++held_;
      changed_.wait_for(lock, 60s, [&] { return released_; });
      --held_;
    }
    send("4\r\nend|\r\n0\r\n\r\n");
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool released_ = false;
  size_t held_ = 0;
  size_t active_ = 0;
};

rapidjson::Document parse(const std::string &json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  return doc;
}

// The text of a chat.completion.chunk stream (the deltas' content, joined), or of one answer.
std::string answer_text(const std::string &body, bool streamed) {
  std::string text;
  if (!streamed) {
    auto doc = parse(body);
    if (doc.HasParseError() || !doc.HasMember("choices")) return "(no answer: " + body + ")";
    return doc["choices"][0]["message"]["content"].GetString();
  }
  for (const auto &data : sse_data(body)) {
    if (data == "[DONE]") break;
    auto doc = parse(data);
    if (doc.HasParseError() || !doc.HasMember("choices")) return "(error event: " + data + ")";
    const auto &delta = doc["choices"][0]["delta"];
    if (delta.HasMember("content")) text += delta["content"].GetString();
  }
  return text;
}

std::string chat_body(const std::string &model, bool stream) {
  return R"({"model": ")" + model + R"(", "stream": )" + (stream ? "true" : "false") +
         R"(, "messages": [{"role": "user", "content": "Hello"}]})";
}

// A streamed chat whose answer has begun: the rest is read by finish().
class Stream {
 public:
  Stream(uint16_t port, const std::string &model) : client_(port, 60s) {
    client_.send_request("POST", "/v1/chat/completions", chat_body(model, true));
    status_ = client_.read_header().status;
    if (status_ != 200) return;
    while (client_.read_some_body().find("begin|") == std::string::npos) {
    }
  }
  int status() const { return status_; }
  std::string finish() { return answer_text(client_.read_rest(), true); }

 private:
  Client client_;
  int status_ = 0;
};

// A folder `provhost serve` watches, and the server, its upstreams pointed at the gate.
class LiveServe {
 public:
  // `subfolder`: the folder served is that one inside the temporary folder, created later by the test.
  explicit LiveServe(const std::vector<fs::path> &initial, std::vector<std::string> extra = {},
                     const std::string &subfolder = "")
      : dir_(subfolder.empty() ? folder_.path() : folder_.path() / subfolder) {
    for (const auto &file : initial) install(file, file.filename().string());
    std::vector<std::string> argv = {
        test::provhost_binary(),    "--plugin-dir", dir_.string(), "--upstream", "Live=" + gate_.origin(), "--upstream",
        "Steady=" + gate_.origin(), "serve",        "--listen",    "127.0.0.1:0"};
    if (std::find(extra.begin(), extra.end(), "--plugin-settle") == extra.end())
      extra.insert(extra.end(), {"--plugin-settle", "0.2"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<test::BackgroundProcess>(
        argv, test::Environment{{"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_API_KEY", ""}});
    auto line = process_->wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
    if (!line) FAIL("provhost serve did not start: " << process_->err());
    port_ = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  }

  // The atomic way: a copy under a temporary name in the folder, then a rename.
  void install(const fs::path &from, const std::string &name) {
    fs::create_directories(dir_);
    live_test::install(from, dir_ / name);
  }
  void install_text(const std::string &text, const std::string &name) {
    std::ofstream(dir_ / (".incoming-" + name), std::ios::binary) << text;
    fs::rename(dir_ / (".incoming-" + name), dir_ / name);
  }
  void remove(const std::string &name) { fs::remove(dir_ / name); }
  fs::path file(const std::string &name) const { return dir_ / name; }

  uint16_t port() const { return port_; }
  Gate &gate() { return gate_; }
  test::BackgroundProcess &process() { return *process_; }

  Response get(const std::string &target) { return fetch(port_, "GET", target); }
  // The version of `provider` that /v1/providers shows; "" when absent.
  std::string version_of(const std::string &provider) {
    auto doc = parse(get("/v1/providers").body);
    if (doc.HasParseError()) return "";
    for (const auto &p : doc["providers"].GetArray()) {
      if (p["name"].GetString() == provider) return p["version"].GetString();
    }
    return "";
  }
  // The reason /v1/providers gives for rejecting `file`; "" when it is not rejected.
  std::string rejection_of(const fs::path &file) {
    auto doc = parse(get("/v1/providers").body);
    if (doc.HasParseError()) return "";
    for (const auto &r : doc["rejected"].GetArray()) {
      if (r["file"].GetString() == file.string()) return r["reason"].GetString();
    }
    return "";
  }
  bool lists_model(const std::string &id) { return get("/v1/models").body.find('"' + id + '"') != std::string::npos; }
  // One answer, not streamed: its status and text.
  std::pair<int, std::string> chat(const std::string &model) {
    Response r = fetch(port_, "POST", "/v1/chat/completions", chat_body(model, false));
    return {r.status, r.status == 200 ? answer_text(r.body, false) : r.body};
  }

 private:
  test::TempDir folder_;
  const fs::path dir_;
  Gate gate_;
  std::unique_ptr<test::BackgroundProcess> process_;
  uint16_t port_ = 0;
};

// The processes whose parent is `pid` (plugin workers, for serve).
size_t children_of(pid_t pid) {
  size_t count = 0;
  for (const auto &entry : fs::directory_iterator("/proc")) {
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: the name may hold spaces and parentheses, so read after the last ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t parent = 0;
    rest >> state >> parent;
    if (parent == pid) ++count;
  }
  return count;
}

// Resident memory of `pid` in KiB.
long resident_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

}  // namespace

TEST_CASE("a plugin dropped in serves new chats while 3 streams of another provider complete byte for byte") {
  LiveServe served({steady});
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<Stream>(served.port(), "Steady/hold"));
    REQUIRE(streams.back()->status() == 200);
  }
  REQUIRE_FALSE(served.lists_model("Live/go"));
  served.install(live_v1, "provhost-live.so");
  CHECK(test::eventually([&] { return served.lists_model("Live/go"); }, 10s));
  CHECK(served.chat("Live/go") == std::pair<int, std::string>{200, "begin|end|Live 1.0"});
  CHECK(served.gate().held() == 3);  // the streams were in flight all along
  served.gate().release();
  for (auto &stream : streams) CHECK(stream->finish() == "begin|end|Steady 1.0");
  CHECK(served.process().err().find("plugin added: Live 1.0 from ") != std::string::npos);
  CHECK(served.process().err().find(" added Live 1.0\n") != std::string::npos);  // the access-log line
  CHECK(served.get("/metrics").body.find("provhost_plugin_events_total{event=\"added\"} 1\n") != std::string::npos);
}

TEST_CASE("a replaced plugin finishes its stream in flight on the old version, and new chats get the new one") {
  LiveServe served({live_v1});
  Stream old_stream(served.port(), "Live/hold");
  REQUIRE(old_stream.status() == 200);
  served.install(live_v2, "provhost-live.so");
  REQUIRE(test::eventually([&] { return served.version_of("Live") == "2.0"; }, 10s));
  CHECK(served.chat("Live/go") == std::pair<int, std::string>{200, "begin|end|Live 2.0"});
  served.gate().release();
  CHECK(old_stream.finish() == "begin|end|Live 1.0");
  CHECK(served.process().err().find("plugin replaced: Live 2.0 (was 1.0) from ") != std::string::npos);
  // The old version's worker exits once its last chat ended: only the new version's is left.
  CHECK(test::eventually([&] { return children_of(served.process().pid()) == 1; }, 10s));
}

TEST_CASE("a plugin replaced by a broken file goes on serving, and the rejection is shown with its reason") {
  LiveServe served({live_v1});
  REQUIRE(served.chat("Live/go") == std::pair<int, std::string>{200, "begin|end|Live 1.0"});
  served.install_text("not a shared library", "provhost-live.so");
  const fs::path file = served.file("provhost-live.so");
  REQUIRE(test::eventually([&] { return !served.rejection_of(file).empty(); }, 10s));
  CHECK_THAT(served.rejection_of(file), Catch::StartsWith("not loadable: "));
  CHECK(served.version_of("Live") == "1.0");
  CHECK(served.chat("Live/go") == std::pair<int, std::string>{200, "begin|end|Live 1.0"});
  CHECK(served.process().err().find("plugin rejected: " + file.string() + ": not loadable: ") != std::string::npos);
  CHECK(served.process().err().find("; Live 1.0 goes on serving") != std::string::npos);
  CHECK(served.get("/metrics").body.find("provhost_plugin_events_total{event=\"rejected\"} 1\n") != std::string::npos);
}

TEST_CASE("a removed plugin finishes its stream in flight and takes no new chats") {
  LiveServe served({live_v1});
  Stream stream(served.port(), "Live/hold");
  REQUIRE(stream.status() == 200);
  served.remove("provhost-live.so");
  REQUIRE(test::eventually([&] { return !served.lists_model("Live/go"); }, 10s));
  served.gate().release();
  CHECK(stream.finish() == "begin|end|Live 1.0");
  Response next = fetch(served.port(), "POST", "/v1/chat/completions", chat_body("Live/go", false));
  CHECK(next.status == 404);
  // Provider/model naming a provider that is not loaded, as for any unknown provider.
  CHECK(next.body.find("\"code\":\"provider_not_found\"") != std::string::npos);
  CHECK(served.process().err().find("plugin removed: Live 1.0") != std::string::npos);
  CHECK(test::eventually([&] { return children_of(served.process().pid()) == 0; }, 10s));
}

TEST_CASE("a plugin copied slowly in 1 KiB pieces is not loaded until it is complete") {
  // A settle time far beyond the pauses between pieces, so that a loaded machine cannot make a
  // pause look like the end of the copy.
  LiveServe served({}, {"--plugin-settle", "3"});
  std::ifstream in(live_v1, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 10 * 1024);
  const fs::path target = served.file("provhost-live.so");
  {
    std::ofstream out(target, std::ios::binary);
    for (size_t at = 0; at < bytes.size(); at += 1024) {
      out.write(bytes.data() + at, static_cast<std::streamsize>(std::min<size_t>(1024, bytes.size() - at)));
      out.flush();
      if (at % (16 * 1024) == 0) {
        // Looked at while incomplete: neither served nor rejected.
        CHECK(served.version_of("Live").empty());
        CHECK(served.rejection_of(target).empty());
      }
      std::this_thread::sleep_for(1ms);
    }
  }
  CHECK(test::eventually([&] { return served.version_of("Live") == "1.0"; }, 15s));
  CHECK(served.rejection_of(target).empty());
  CHECK(served.process().err().find("plugin rejected") == std::string::npos);
}

TEST_CASE("SIGHUP rescans at once, where neither the system's reports nor a period would") {
  // The folder does not exist when serve starts, so the system watches nothing there, and there is
  // no periodic rescan: only SIGHUP can find the plugin.
  LiveServe served({}, {"--plugin-rescan", "0"}, "later");
  served.install(live_v1, "provhost-live.so");
  served.process().send_signal(SIGHUP);
  CHECK(test::eventually([&] { return served.version_of("Live") == "1.0"; }, 10s));
  CHECK(served.chat("Live/go") == std::pair<int, std::string>{200, "begin|end|Live 1.0"});
}

TEST_CASE("200 adds, replacements and removals under 50 concurrent streams fail no stream and leak no worker") {
  LiveServe served({steady, live_v1}, {"--plugin-settle", "0", "--quiet"});
  served.gate().release();  // answers go through at once: the load is as many chats as it can be
  REQUIRE(served.chat("Steady/go").first == 200);
  REQUIRE(served.chat("Live/go").first == 200);
  const long memory_before = resident_kib(served.process().pid());

  std::atomic<bool> done{false};
  std::atomic<int> completed{0}, failed{0}, live_absent{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> load;
  for (int i = 0; i < 50; ++i) {
    load.emplace_back([&, i] {
      // Every other client asks the provider that comes and goes: while it is absent a 404 is the
      // right answer; whatever else is not a whole answer from one of its versions is a failure.
      const bool live = i % 2 == 1;
      while (!done) {
        try {
          Client client(served.port(), 30s);
          client.send_request("POST", "/v1/chat/completions", chat_body(live ? "Live/go" : "Steady/go", true));
          int status = client.read_header().status;
          std::string body = client.read_rest();
          std::string text = status == 200 ? answer_text(body, true) : "";
          bool whole = text == "begin|end|Steady 1.0" ||
                       (live && (text == "begin|end|Live 1.0" || text == "begin|end|Live 2.0"));
          if (status == 404 && live && body.find("provider_not_found") != std::string::npos) {
            ++live_absent;
          } else if (status == 200 && whole) {
            ++completed;
          } else {
            ++failed;
            std::lock_guard lock(failures_mutex);
            failures.push_back(std::to_string(status) + " " + body.substr(0, 300));
          }
        } catch (const std::exception &e) {
          ++failed;
          std::lock_guard lock(failures_mutex);
          failures.push_back(e.what());
        }
      }
    });
  }
  std::mt19937 random(9);
  bool present = true;
  for (int cycle = 0; cycle < 200; ++cycle) {
    if (present && random() % 3 == 0) {
      served.remove("provhost-live.so");
      present = false;
    } else {
      served.install(cycle % 2 ? live_v2 : live_v1, "provhost-live.so");
      present = true;
    }
    std::this_thread::sleep_for(20ms);  // pacing, so that the watcher sees most changes one by one
  }
  served.install(live_v2, "provhost-live.so");
  REQUIRE(test::eventually([&] { return served.version_of("Live") == "2.0"; }, 30s));
  // The load goes on a little on the last version, then stops.
  const int before = completed;
  test::eventually([&] { return completed > before + 100; }, 10s);
  done = true;
  for (auto &thread : load) thread.join();

  INFO("completed " << completed << ", absent " << live_absent << ", failed " << failed);
  for (const auto &failure : failures) UNSCOPED_INFO(failure);
  CHECK(failed == 0);
  CHECK(completed > 0);
  // Idle now: one worker per provider version still served (Steady, Live 2.0), none left over.
  CHECK(test::eventually([&] { return children_of(served.process().pid()) <= 2; }, 15s));
  CHECK(children_of(served.process().pid()) <= 2);
  // Old versions were let go of: the server is about the size it was (a generous bound, for the
  // allocator's own keeping and the scan cache).
  const long memory_after = resident_kib(served.process().pid());
  INFO("resident before " << memory_before << " KiB, after " << memory_after << " KiB");
  CHECK(memory_after < memory_before + 64 * 1024);
}
