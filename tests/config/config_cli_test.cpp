// The configuration through the real binary: `provhost config`, a bad file, the file's values
// reaching the engine and the plugins, and serve taking every engine option.
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <thread>

#include "support/process.hpp"
#include "support/silent_server.hpp"

using namespace provhost::test;
namespace fs = std::filesystem;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

using provhost::test::SilentServer;

const fs::path test_plugins = PROVHOST_TEST_PLUGIN_DIR;  // built by tests/broken_plugins

// Nothing from the caller's environment changes what these runs see; XDG_CONFIG_HOME points at
// `config_home` (no file there unless a test writes one).
Environment clean_environment(const fs::path &config_home) {
  return {{"XDG_CONFIG_HOME", config_home.string()},
          {"PROVHOST_PLUGIN_PATH", ""},
          {"PROVHOST_LOG", ""},
          {"PROVHOST_API_KEY", ""},
          {"PROVHOST_BACKOFF_SCALE", ""},
          {"PROVHOST_UPSTREAM_YLOKH", ""},
          {"http_proxy", ""},
          {"HTTP_PROXY", ""},
          {"https_proxy", ""},
          {"HTTPS_PROXY", ""},
          {"all_proxy", ""},
          {"ALL_PROXY", ""},
          {"no_proxy", ""},
          {"NO_PROXY", ""}};
}

struct Provhost {
  TempDir home;

  ProcessResult run(const std::vector<std::string> &args, const Environment &extra = {}) const {
    std::vector<std::string> argv = {provhost_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    Environment env = clean_environment(home.path());
    env.insert(env.end(), extra.begin(), extra.end());
    ProcessResult result = run_process(argv, "", std::chrono::seconds(20), env);
    INFO("provhost stderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    return result;
  }
};

// Answers every request with the headers of an event stream, then sends nothing more.
class StallingServer : public SilentServer {
 public:
  StallingServer() {
    thread_ = std::thread([this] {
      std::vector<int> clients;
      for (;;) {
        int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) break;  // shut down
        char request[8192];
        (void)::recv(client, request, sizeof request, 0);
        const std::string head =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        (void)::send(client, head.data(), head.size(), MSG_NOSIGNAL);
        clients.push_back(client);
      }
      for (int client : clients) ::close(client);
    });
  }
  ~StallingServer() {
    ::shutdown(fd_, SHUT_RDWR);  // ends the accept
    thread_.join();
  }

 private:
  std::thread thread_;
};

// A port nobody listens on (it was free a moment ago).
int closed_port() {
  SilentServer probe;
  return probe.port();
}

struct Response {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 request to 127.0.0.1:port; a silent server makes it fail after 20 s, not hang.
Response request(int port, http::verb method, const std::string &target, const std::string &body = "",
                 const std::string &api_key = "") {
  boost::asio::io_context io;
  tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  timeval limit{20, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  http::request<http::string_body> message{method, target, 11};
  message.set(http::field::host, "127.0.0.1");
  message.set(http::field::connection, "close");
  if (!api_key.empty()) message.set(http::field::authorization, "Bearer " + api_key);
  if (!body.empty()) {
    message.set(http::field::content_type, "application/json");
    message.body() = body;
  }
  message.prepare_payload();
  http::write(socket, message);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  return {static_cast<int>(response.result_int()), response.body()};
}

const std::string ylokh_chat = R"({"provider": "Ylokh", "messages": [{"role": "user", "content": "Hi"}]})";

// `provhost serve` on a free port with `args`; its port once it listens.
class Serve {
 public:
  Serve(const Provhost &provhost, std::vector<std::string> args, const Environment &extra = {}) {
    std::vector<std::string> argv = {provhost_binary(), "serve", "--listen", "127.0.0.1:0", "--quiet"};
    argv.insert(argv.end(), args.begin(), args.end());
    Environment env = clean_environment(provhost.home.path());
    env.insert(env.end(), extra.begin(), extra.end());
    process_.emplace(argv, env);
    auto line = process_->wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
    INFO("serve stderr: " << process_->err());
    REQUIRE(line);
    port_ = std::stoi(line->substr(line->rfind(':') + 1));
  }
  int port() const { return port_; }

 private:
  std::optional<BackgroundProcess> process_;
  int port_ = 0;
};

std::string error_message(const Response &response) {
  rapidjson::Document json;
  json.Parse(response.body.c_str());
  if (json.HasParseError() || !json.IsObject() || !json.HasMember("error")) return "not an error: " + response.body;
  return json["error"]["message"].GetString();
}

}  // namespace

TEST_CASE("provhost config prints each value with its source, secrets masked") {
  Provhost provhost;
  TempDir dir;
  fs::path file = dir.write("my.toml", "[timeouts]\nidle = 7\n\n[providers.Koala]\napi_key = \"file-secret\"\n");
  ProcessResult r =
      provhost.run({"--config", file.string(), "config", "--timeout", "5"}, {{"PROVHOST_API_KEY", "env-secret"}});
  CHECK(r.exit_code == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("# configuration file: " + file.string() + "\n"));
  CHECK_THAT(r.out, Catch::Contains("\ntotal = 5  # from --timeout\n"));
  CHECK_THAT(r.out, Catch::Contains("\nidle = 7  # from my.toml:2\n"));
  CHECK_THAT(r.out, Catch::Contains("\nconnect = 10  # default\n"));
  CHECK_THAT(r.out, Catch::Contains("\napi_key = \"****\"  # from PROVHOST_API_KEY\n"));
  CHECK_THAT(r.out, Catch::Contains("\n[providers.Koala]\napi_key = \"****\"  # from my.toml:5\n"));
  CHECK_THAT(r.out, !Catch::Contains("secret"));

  ProcessResult json_run = provhost.run({"--config", file.string(), "config", "--json"});
  CHECK(json_run.exit_code == 0);
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(json_run.out.c_str()).HasParseError());
  CHECK(json["timeouts"]["idle"]["value"].GetDouble() == 7);
  CHECK(std::string(json["timeouts"]["idle"]["source"].GetString()) == "my.toml:2");
  CHECK(std::string(json["providers"]["Koala"]["api_key"]["value"].GetString()) == "****");
}

TEST_CASE("the default file under XDG_CONFIG_HOME is read when it exists") {
  Provhost provhost;
  ProcessResult without = provhost.run({"config"});
  CHECK(without.exit_code == 0);
  CHECK_THAT(without.out, Catch::Contains("/provhost/config.toml (not found)\n"));
  fs::create_directories(provhost.home.path() / "provhost");
  provhost.home.write("provhost/config.toml", "log_level = \"warning\"\n");
  ProcessResult with = provhost.run({"config"});
  CHECK(with.exit_code == 0);
  CHECK_THAT(with.out, Catch::Contains("\nlog_level = \"warning\"  # from config.toml:1\n"));
}

TEST_CASE("a bad configuration file is one line with its position and exit 2, whatever the command") {
  Provhost provhost;
  TempDir dir;
  const std::string file = dir.write("bad.toml", "[timeouts]\ntotl = 3\n").string();
  for (std::vector<std::string> command : {std::vector<std::string>{"list"}, {"config"}, {"serve"}, {"chat", "Hi"}}) {
    std::vector<std::string> args = {"--config", file};
    args.insert(args.end(), command.begin(), command.end());
    INFO(command.front());
    ProcessResult r = provhost.run(args);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err == "provhost: error: " + file + ":2:1: unknown key \"timeouts.totl\"\n");
  }
  ProcessResult missing = provhost.run({"--config", dir.path().string() + "/missing.toml", "list"});
  CHECK(missing.exit_code == 2);
  CHECK(missing.err == "provhost: error: cannot read configuration file " + dir.path().string() +
                           "/missing.toml: No such file or directory\n");
}

TEST_CASE("chat takes its timeouts and upstreams from the file") {
  Provhost provhost;
  SilentServer silent;
  TempDir dir;
  const std::string file =
      dir.write("c.toml", "[timeouts]\nfirst_byte = 0.3\n[upstreams]\nYlokh = \"" + silent.origin() + "\"\n").string();
  ProcessResult r = provhost.run({"--config", file, "chat", "-p", "Ylokh", "Hi"});
  CHECK(r.exit_code == 4);
  CHECK(r.err == "provhost: Ylokh: no response within 0.3 s\n");
  SECTION("the command line still wins") {
    ProcessResult faster = provhost.run({"--config", file, "chat", "-p", "Ylokh", "--first-byte-timeout", "0.2", "Hi"});
    CHECK(faster.err == "provhost: Ylokh: no response within 0.2 s\n");
  }
}

TEST_CASE("a model's chain from the file decides which providers chat tries") {
  Provhost provhost;
  SilentServer silent;
  TempDir dir;
  // FlowGpt and FreeNetfly offer gpt-3.5-turbo too (Ylokh says it is not working): with the chain only
  // FreeNetfly is tried, before or after nothing else.
  const std::string file = dir.write("c.toml",
                                     "[timeouts]\nfirst_byte = 0.1\n"
                                     "[upstreams]\nFreeNetfly = \"" +
                                         silent.origin() +
                                         "\"\n"
                                         "[models]\n\"gpt-3.5-turbo\" = [\"Ylokh\", \"FreeNetfly\"]\n")
                               .string();
  ProcessResult r =
      provhost.run({"--config", file, "chat", "-m", "gpt-3.5-turbo", "Hi"}, {{"PROVHOST_BACKOFF_SCALE", "0.001"}});
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::EndsWith("\nprovhost: FreeNetfly: no response within 0.1 s\n"));  // after its retries
  for (const char *other : {"Koala", "FlowGpt", "ChatgptFree", "Ylokh"}) CHECK_THAT(r.err, !Catch::Contains(other));
}

TEST_CASE("provider values and the log level from the file reach the plugins") {
  Provhost provhost;
  TempDir plugins, dir;
  fs::copy_file(test_plugins / "provhost-raw-good.so", plugins.path() / "provhost-raw-good.so");
  const fs::path marker = dir.path() / "deinit.txt";
  // RawGood's deinit logs "unloading" at debug level and appends to the file its deinit_marker names.
  const std::string file =
      dir.write("c.toml", "log_level = \"debug\"\n[providers.RawGood]\ndeinit_marker = \"" + marker.string() + "\"\n")
          .string();
  // In this process: a worker (--isolation process) ends without unloading its plugin.
  ProcessResult r =
      provhost.run({"--config", file, "--isolation", "none", "--plugin-dir", plugins.path().string(), "list"});
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("provhost: [RawGood] debug: unloading\n"));
  std::ifstream written(marker);
  std::string line;
  CHECK((std::getline(written, line) && line == "deinit"));
}

TEST_CASE("serve takes every engine option") {
  Provhost provhost;
  SECTION("--first-byte-timeout") {
    SilentServer silent;
    Serve serve(provhost, {"--upstream", "Ylokh=" + silent.origin(), "--first-byte-timeout", "0.3"});
    Response response = request(serve.port(), http::verb::post, "/v1/chat/completions", ylokh_chat);
    CHECK(response.status == 504);
    CHECK(error_message(response) == "Ylokh: no response within 0.3 s");
  }
  SECTION("--timeout") {
    SilentServer silent;
    Serve serve(provhost, {"--upstream", "Ylokh=" + silent.origin(), "--timeout", "0.3"});
    Response response = request(serve.port(), http::verb::post, "/v1/chat/completions", ylokh_chat);
    CHECK(response.status == 504);
    CHECK(error_message(response) == "Ylokh: timed out after 0.3 s");
  }
  SECTION("--idle-timeout") {
    StallingServer stalling;
    Serve serve(provhost, {"--upstream", "Ylokh=" + stalling.origin(), "--idle-timeout", "0.3"});
    Response response = request(serve.port(), http::verb::post, "/v1/chat/completions", ylokh_chat);
    CHECK(response.status == 504);
    CHECK(error_message(response) == "Ylokh: stalled: no data for 0.3 s");
  }
  SECTION("--proxy: the upstream is reached through it, here a proxy nobody listens on") {
    SilentServer upstream;
    const int proxy_port = closed_port();
    Serve serve(provhost, {"--upstream", "Ylokh=" + upstream.origin(), "--proxy",
                           "http://127.0.0.1:" + std::to_string(proxy_port)});
    Response response = request(serve.port(), http::verb::post, "/v1/chat/completions", ylokh_chat);
    CHECK(response.status == 502);
    CHECK_THAT(error_message(response), Catch::Contains("port " + std::to_string(proxy_port)));
  }
  SECTION("--connect-timeout is accepted, and a bad proxy is refused before serving") {
    ProcessResult bad = provhost.run({"serve", "--connect-timeout", "1", "--proxy", "ftp://127.0.0.1:1"});
    CHECK(bad.exit_code == 2);
    CHECK(bad.err ==
          "provhost: unsupported proxy scheme \"ftp\" (use http, https, socks4, socks4a, socks5 or socks5h)\n");
    ProcessResult bad_seconds = provhost.run({"serve", "--connect-timeout", "soon"});
    CHECK(bad_seconds.exit_code == 2);
  }
}

TEST_CASE("serve takes its own settings from the file") {
  Provhost provhost;
  TempDir dir;
  const std::string file = dir.write("c.toml", "[serve]\napi_key = \"from-file\"\n").string();
  Serve serve(provhost, {"--config", file});
  CHECK(request(serve.port(), http::verb::get, "/v1/models").status == 401);
  CHECK(request(serve.port(), http::verb::get, "/v1/models", "", "from-file").status == 200);
}

TEST_CASE("an empty API key given on purpose is refused: it would turn authentication off") {
  Provhost provhost;
  TempDir dir;
  ProcessResult flag = provhost.run({"serve", "--api-key", ""});
  CHECK(flag.exit_code == 2);
  CHECK(flag.err == "provhost: the API key (from --api-key) is empty: leave it out to serve without a key\n");
  const std::string file = dir.write("c.toml", "[serve]\napi_key = \"\"\n").string();
  ProcessResult from_file = provhost.run({"--config", file, "serve"});
  CHECK(from_file.exit_code == 2);
  CHECK(from_file.err.find("is empty: leave it out to serve without a key") != std::string::npos);
}

TEST_CASE("serving beyond loopback without an API key is warned about") {
  Provhost provhost;
  std::vector<std::string> argv = {provhost_binary(), "serve", "--listen", "0.0.0.0:0", "--quiet"};
  BackgroundProcess serve(argv, clean_environment(provhost.home.path()));
  REQUIRE(serve.wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; }));
  // The warning is written before the listening line; its pipe is read by another thread.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (serve.err().find("warning") == std::string::npos && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(serve.err() ==
        "provhost: warning: serving on 0.0.0.0:0 without an API key: anyone who can reach it can use every "
        "provider\n");
}
