// The HTTP behaviour of `serve`, in-process: the real server on an ephemeral port in front of a
// scripted engine, driven by raw HTTP. Covers the wire format clients see, every error status,
// keep-alive, cancellation when a client leaves or lags, the client timeout and graceful shutdown.
#include <rapidjson/document.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <provhost/serve/server.hpp>
#include <thread>

#include "http_client.hpp"
#include "scripted_engine.hpp"
#include "support/eventually.hpp"

using namespace provhost;
using namespace provhost::serve_test;
using namespace std::chrono_literals;

namespace {

const std::string hello_body = R"({"model": "scripted-1", "messages": [{"role": "user", "content": "Hi"}]})";
const std::string hello_stream_body =
    R"({"model": "scripted-1", "stream": true, "messages": [{"role": "user", "content": "Hi"}]})";

serve::ServerOptions test_options() {
  serve::ServerOptions options;
  options.listen = tcp::endpoint(net::ip::make_address("127.0.0.1"), 0);
  options.access_log = false;
  options.client_timeout = 10s;
  options.shutdown_timeout = 10s;
  return options;
}

// The server on its own io thread, the way `serve` runs it, with the scripted engine behind it.
class RunningServer {
 public:
  explicit RunningServer(serve::ServerOptions options = test_options(),
                         serve::Catalog catalog = {R"({"object":"list","data":[]})",
                                                   R"({"providers":[],"rejected":[]})"}) {
    server_.emplace(io_, std::move(options), engine.submitter(), engine.resolver(), std::move(catalog));
    server_->start();
    thread_ = std::thread([this] {
      io_.run();
      stopped_.set_value();
    });
  }

  ~RunningServer() {
    io_.stop();
    thread_.join();
  }

  uint16_t port() const { return server_->local_endpoint().port(); }
  void shutdown() { server_->shutdown(); }
  bool stops_within(std::chrono::milliseconds limit) {
    return stopped_future_.wait_for(limit) == std::future_status::ready;
  }

  ScriptedEngine engine;

 private:
  net::io_context io_{1};
  std::optional<serve::Server> server_;
  std::promise<void> stopped_;
  std::future<void> stopped_future_ = stopped_.get_future();
  std::thread thread_;
};

rapidjson::Document parse(const std::string &json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  INFO(json);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string str(const rapidjson::Value &v) { return {v.GetString(), v.GetStringLength()}; }

// Checks a complete OpenAI event stream and returns its text.
std::string stream_text(const std::string &body) {
  auto events = sse_data(body);
  REQUIRE(events.size() >= 3);
  CHECK(events.back() == "[DONE]");
  std::string id, text;
  int finishes = 0;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto doc = parse(events[i]);
    CHECK(str(doc["object"]) == "chat.completion.chunk");
    if (i == 0) id = str(doc["id"]);
    CHECK(str(doc["id"]) == id);
    const auto &choice = doc["choices"][0];
    CHECK(choice["index"].IsInt());
    CHECK(choice["delta"].HasMember("role") == (i == 0));
    if (choice["delta"].HasMember("content")) text += str(choice["delta"]["content"]);
    if (!choice["finish_reason"].IsNull()) {
      ++finishes;
      CHECK(i + 2 == events.size());
    }
  }
  CHECK(finishes == 1);
  return text;
}

core::ChatError chat_error(core::ErrorKind kind, std::string provider, std::string detail) {
  return core::make_error(kind, std::move(provider), std::move(detail));
}

std::string error_code_of(const Response &r) {
  auto doc = parse(r.body);
  REQUIRE(doc.HasMember("error"));
  const auto &code = doc["error"]["code"];
  return code.IsNull() ? "" : str(code);
}

}  // namespace

TEST_CASE("a non-streaming chat answers with a chat.completion in JSON") {
  RunningServer server;
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", hello_body, "Accept: application/json\r\n");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  auto doc = parse(r.body);
  CHECK(str(doc["object"]) == "chat.completion");
  CHECK(str(doc["model"]) == "scripted-1");
  CHECK(str(doc["choices"][0]["message"]["content"]) == "Hello, world");
  CHECK(str(doc["choices"][0]["finish_reason"]) == "stop");
  auto specs = server.engine.specs();
  REQUIRE(specs.size() == 1);
  CHECK(specs[0].model == "scripted-1");
  CHECK_FALSE(specs[0].stream);
  REQUIRE(specs[0].messages.size() == 1);
  CHECK(specs[0].messages[0].content == "Hi");
}

TEST_CASE("a non-streamed answer carries the engine's usage and finish reason") {
  RunningServer server;
  server.engine.set_script({.texts = {"Hello"}, .summary = {core::FinishReason::length, {21, 2}}});
  auto doc = parse(fetch(server.port(), "POST", "/v1/chat/completions", hello_body).body);
  CHECK(str(doc["choices"][0]["finish_reason"]) == "length");
  CHECK(doc["usage"]["prompt_tokens"].GetUint64() == 21);
  CHECK(doc["usage"]["completion_tokens"].GetUint64() == 2);
  CHECK(doc["usage"]["total_tokens"].GetUint64() == 23);
}

TEST_CASE("with stream_options.include_usage a stream ends with a usage chunk before [DONE]; without, it has none") {
  RunningServer server;
  server.engine.set_script({.texts = {"Hel", "lo"}, .summary = {core::FinishReason::length, {21, 2}}});
  const std::string body = R"({"model": "scripted-1", "stream": true, "stream_options": {"include_usage": true},)"
                           R"( "messages": [{"role": "user", "content": "Hi"}]})";
  auto events = sse_data(fetch(server.port(), "POST", "/v1/chat/completions", body).body);
  // role, the texts (one event, or two when the server took the first before the second came), finish, usage, [DONE]
  REQUIRE(events.size() >= 5);
  const std::size_t last = events.size() - 1;
  std::string text;
  for (std::size_t i = 1; i + 3 < events.size(); ++i) text += str(parse(events[i])["choices"][0]["delta"]["content"]);
  CHECK(text == "Hello");
  CHECK(str(parse(events[last - 2])["choices"][0]["finish_reason"]) == "length");
  auto usage = parse(events[last - 1]);
  CHECK(usage["choices"].Empty());
  CHECK(usage["usage"]["total_tokens"].GetUint64() == 23);
  CHECK(events[last] == "[DONE]");

  auto plain = sse_data(fetch(server.port(), "POST", "/v1/chat/completions", hello_stream_body).body);
  for (const auto &event : plain) CHECK(event.find("\"usage\"") == std::string::npos);
}

TEST_CASE("stream true answers with server-sent events even when the client accepts JSON") {
  RunningServer server;
  server.engine.set_script({.texts = {"Hel", "lo \xe2\x9c\x93", "\n"}});
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", hello_stream_body, "Accept: application/json\r\n");
  CHECK(r.status == 200);
  CHECK(r.header("content-type").rfind("text/event-stream", 0) == 0);
  CHECK(stream_text(r.body) == "Hello \xe2\x9c\x93\n");
  CHECK(server.engine.specs().at(0).stream);
}

TEST_CASE("stream deltas reach the client before the answer ends") {
  RunningServer server;
  server.engine.set_script({.texts = {"first", " second"}, .hold_after_first_text = true});
  Client client(server.port());
  client.send_request("POST", "/v1/chat/completions", hello_stream_body);
  REQUIRE(client.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));
  std::string body;
  while (body.find("first") == std::string::npos) body = client.read_some_body();
  CHECK(body.find("second") == std::string::npos);
  server.engine.release();
  CHECK(stream_text(client.read_rest()) == "first second");
}

TEST_CASE("an empty answer still streams a role chunk, a finish chunk and [DONE]") {
  RunningServer server;
  server.engine.set_script({.texts = {}});
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", hello_stream_body);
  CHECK(r.status == 200);
  CHECK(stream_text(r.body).empty());
}

TEST_CASE("a failure before the first text gets its real status, streaming or not") {
  struct Case {
    core::ErrorKind kind;
    int status;
    const char *code;
  };
  auto c = GENERATE(values<Case>({{core::ErrorKind::model_not_found, 404, "model_not_found"},
                                  {core::ErrorKind::unknown_provider, 404, "provider_not_found"},
                                  {core::ErrorKind::rate_limited, 429, "rate_limit_exceeded"},
                                  {core::ErrorKind::http_status, 502, "http_status"},
                                  {core::ErrorKind::timeout, 504, "timeout"}}));
  auto body = GENERATE(hello_body, hello_stream_body);
  RunningServer server;
  server.engine.set_script({.error_before_text = chat_error(c.kind, "", "it failed")});
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", body);
  CHECK(r.status == c.status);
  CHECK(r.header("content-type") == "application/json");
  CHECK(error_code_of(r) == c.code);
  CHECK(str(parse(r.body)["error"]["message"]) == "it failed");
}

TEST_CASE("a failure after the first text is an error event, then [DONE]") {
  RunningServer server;
  server.engine.set_script(
      {.texts = {"partial"}, .error_after_text = chat_error(core::ErrorKind::truncated, "Scripted", "stream cut")});
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", hello_stream_body);
  CHECK(r.status == 200);
  auto events = sse_data(r.body);
  REQUIRE(events.size() == 4);
  CHECK(str(parse(events[1])["choices"][0]["delta"]["content"]) == "partial");
  auto error = parse(events[2]);
  CHECK(str(error["error"]["message"]) == "Scripted: stream cut");
  CHECK(str(error["error"]["type"]) == "upstream_error");
  CHECK(events[3] == "[DONE]");
  CHECK(r.body.find("finish_reason\":\"stop") == std::string::npos);
}

TEST_CASE("a body nested a million deep is a 400, and the server answers the next request") {
  RunningServer server;
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", std::string(1'000'000, '['));
  CHECK(r.status == 400);
  CHECK(str(parse(r.body)["error"]["type"]) == "invalid_request_error");
  CHECK(fetch(server.port(), "GET", "/health", "").status == 200);
  CHECK(server.engine.specs().empty());
}

TEST_CASE("bad request bodies are 400s in OpenAI's shape and never reach the engine") {
  auto body = GENERATE(std::string("{not json"), std::string(R"({"messages": "hi"})"), std::string(R"({"model": "m"})"),
                       std::string(R"({"messages": [], "stream": 1})"));
  RunningServer server;
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", body);
  CHECK(r.status == 400);
  CHECK(r.header("content-type") == "application/json");
  auto doc = parse(r.body);
  CHECK(str(doc["error"]["type"]) == "invalid_request_error");
  CHECK(doc["error"].HasMember("param"));
  CHECK(server.engine.specs().empty());
}

TEST_CASE("an unknown path is a 404 and a wrong method a 405 naming the allowed one") {
  RunningServer server;
  auto missing = fetch(server.port(), "GET", "/v1/nothing-here");
  CHECK(missing.status == 404);
  CHECK(error_code_of(missing) == "unknown_url");
  auto wrong = fetch(server.port(), "GET", "/v1/chat/completions");
  CHECK(wrong.status == 405);
  CHECK(wrong.header("allow") == "POST, OPTIONS");
  CHECK(fetch(server.port(), "DELETE", "/v1/models").status == 405);
}

TEST_CASE("a body over the limit is a 413, also when announced with Expect: 100-continue") {
  auto options = test_options();
  options.max_body_bytes = 1000;
  RunningServer server(options);
  std::string big = R"({"messages": [{"role": "user", "content": ")" + std::string(2000, 'x') + R"("}]})";
  CHECK(fetch(server.port(), "POST", "/v1/chat/completions", big).status == 413);

  Client client(server.port());
  client.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: 5000000\r\nExpect: 100-continue\r\n\r\n");
  auto r = client.read_response();
  CHECK(r.status == 413);
  CHECK(error_code_of(r) == "request_too_large");
  CHECK(server.engine.specs().empty());
}

TEST_CASE("Expect: 100-continue gets a 100 before the body is sent") {
  RunningServer server;
  Client client(server.port());
  client.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(hello_body.size()) + "\r\nExpect: 100-continue\r\n\r\n");
  CHECK(client.read_header().status == 100);
  client.send(hello_body);
  auto r = client.read_response();
  CHECK(r.status == 200);
  CHECK(str(parse(r.body)["choices"][0]["message"]["content"]) == "Hello, world");
}

TEST_CASE("headers over the limit are a 431; a broken request line a 400") {
  auto options = test_options();
  options.max_header_bytes = 2048;
  RunningServer server(options);
  CHECK(fetch(server.port(), "GET", "/health", "", "X-Big: " + std::string(4096, 'a') + "\r\n").status == 431);
  Client client(server.port());
  client.send("NOT A REQUEST\r\n\r\n");
  CHECK(client.read_response().status == 400);
}

TEST_CASE("with an API key, /v1 needs it as a bearer token; /health does not") {
  auto options = test_options();
  options.api_key = "sk-test-key";
  RunningServer server(options);
  auto missing = fetch(server.port(), "POST", "/v1/chat/completions", hello_body);
  CHECK(missing.status == 401);
  CHECK(error_code_of(missing) == "invalid_api_key");
  CHECK(fetch(server.port(), "GET", "/v1/models", "", "Authorization: Bearer sk-wrong-key\r\n").status == 401);
  CHECK(fetch(server.port(), "GET", "/v1/models", "", "Authorization: Bearer sk-test-key\r\n").status == 200);
  CHECK(fetch(server.port(), "POST", "/v1/chat/completions", hello_body, "Authorization: bearer sk-test-key\r\n")
            .status == 200);
  CHECK(fetch(server.port(), "GET", "/health").status == 200);
  CHECK(server.engine.specs().size() == 1);
}

TEST_CASE("models, providers and health answer with their JSON") {
  RunningServer server;
  auto models = fetch(server.port(), "GET", "/v1/models");
  CHECK(models.status == 200);
  CHECK(models.header("content-type") == "application/json");
  CHECK(str(parse(models.body)["object"]) == "list");
  CHECK(parse(fetch(server.port(), "GET", "/v1/providers").body).HasMember("providers"));
  CHECK(str(parse(fetch(server.port(), "GET", "/health?verbose=1").body)["status"]) == "ok");
}

TEST_CASE("one connection carries several requests, pipelined ones included") {
  RunningServer server;
  Client client(server.port());
  for (int i = 0; i < 3; ++i) {
    client.send_request("POST", "/v1/chat/completions", hello_stream_body);
    CHECK(stream_text(client.read_response().body) == "Hello, world");
  }
  std::string two_requests;
  for (int i = 0; i < 2; ++i) {
    two_requests +=
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(hello_body.size()) + "\r\n\r\n" + hello_body;
  }
  client.send(two_requests);
  for (int i = 0; i < 2; ++i) {
    auto r = client.read_response();
    CHECK(r.status == 200);
    CHECK(str(parse(r.body)["choices"][0]["message"]["content"]) == "Hello, world");
  }
  CHECK(server.engine.specs().size() == 5);
}

namespace {

// A non-streaming chat on `client`'s connection, held by the engine after its first text until released.
void hold_first_answer(RunningServer &server, Client &client) {
  server.engine.set_script({.texts = {"Hello", ", world"}, .hold_after_first_text = true});
  client.send_request("POST", "/v1/chat/completions", hello_body);
  REQUIRE(server.engine.wait_for_held(1));
}

void check_hello_answer(const Response &r) {
  CHECK(r.status == 200);
  CHECK(str(parse(r.body)["choices"][0]["message"]["content"]) == "Hello, world");
}

}  // namespace

TEST_CASE("a request sent while the previous answer is prepared waits for it, then is answered") {
  RunningServer server;
  Client client(server.port());
  hold_first_answer(server, client);
  // Read while the first answer is prepared (the read that watches for a hangup), parsed after it.
  client.send_request("POST", "/v1/chat/completions", hello_body);
  server.engine.release();
  check_hello_answer(client.read_response());
  REQUIRE(server.engine.wait_for_held(2));
  server.engine.release();
  check_hello_answer(client.read_response());
  CHECK(server.engine.specs().size() == 2);
}

TEST_CASE("a next request whose header comes during an answer and its body after it is answered too") {
  RunningServer server;
  Client client(server.port());
  hold_first_answer(server, client);
  client.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(hello_body.size()) + "\r\n\r\n" + hello_body.substr(0, 10));
  server.engine.release();
  CHECK(client.read_response().status == 200);
  client.send(hello_body.substr(10));
  REQUIRE(server.engine.wait_for_held(2));
  server.engine.release();
  check_hello_answer(client.read_response());
}

TEST_CASE("garbage sent after a request, while it is answered, is a 400 once the answer is out") {
  RunningServer server;
  Client client(server.port());
  hold_first_answer(server, client);
  client.send("NOT HTTP AT ALL\r\n\r\n");
  server.engine.release();
  CHECK(client.read_response().status == 200);
  CHECK(client.read_response().status == 400);
  CHECK(client.drain_until_closed());
  CHECK(server.engine.specs().size() == 1);
}

TEST_CASE("a keep-alive connection in use for longer than the client timeout stays open: each wait has its own") {
  auto options = test_options();
  options.client_timeout = 2s;
  RunningServer server(options);
  Client client(server.port());
  // Each pause is well within the timeout; together they pass it.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(700ms);
    client.send_request("POST", "/v1/chat/completions", hello_body);
    auto r = client.read_response();
    REQUIRE(r.status == 200);
    CHECK(str(parse(r.body)["choices"][0]["message"]["content"]) == "Hello, world");
  }
  CHECK(server.engine.specs().size() == 4);
  // Then idle, the connection is closed after the timeout as before.
  CHECK(client.closed_by_server());
}

TEST_CASE("a client that closes its keep-alive connection after an answer frees it on the server") {
  auto options = test_options();
  options.max_connections = 1;
  options.client_timeout = 60s;  // longer than the waits below: no idle timeout frees a connection here
  RunningServer server(options);
  const std::string stream_or_not[] = {hello_body, hello_stream_body};
  for (int i = 0; i < 6; ++i) {
    // The server notices a close on its own time: a new client may still find the last one counted.
    std::optional<Response> answer;
    CHECK(test::eventually([&] {
      Client client(server.port());
      client.send_request("POST", "/v1/chat/completions", stream_or_not[i % 2]);
      answer = client.read_response();
      return answer->status != 503;
    }));
    REQUIRE(answer);
    CHECK(answer->status == 200);
  }
}

TEST_CASE("an HTTP/1.0 client gets its stream unchunked, ended by closing the connection") {
  RunningServer server;
  Client client(server.port());
  client.send("POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(hello_stream_body.size()) + "\r\n\r\n" + hello_stream_body);
  auto r = client.read_response();
  CHECK(r.status == 200);
  CHECK(r.header("transfer-encoding").empty());
  CHECK(stream_text(r.body) == "Hello, world");
}

TEST_CASE("a client that disconnects mid-stream cancels its chat") {
  RunningServer server;
  server.engine.set_script({.texts = {"first", "never sent"}, .hold_after_first_text = true});
  Client client(server.port());
  client.send_request("POST", "/v1/chat/completions", hello_stream_body);
  REQUIRE(client.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));
  client.close();
  CHECK(server.engine.wait_for_cancellations(1));
}

TEST_CASE("a client that disconnects while waiting for a non-streaming answer cancels its chat") {
  RunningServer server;
  server.engine.set_script({.texts = {"first"}, .hold_after_first_text = true});
  Client client(server.port());
  client.send_request("POST", "/v1/chat/completions", hello_body);
  REQUIRE(server.engine.wait_for_held(1));
  client.close();
  CHECK(server.engine.wait_for_cancellations(1));
}

TEST_CASE("a streaming client that stops reading is dropped and its chat cancelled") {
  auto options = test_options();
  options.max_stream_backlog = 64 * 1024;
  options.client_timeout = 500ms;
  RunningServer server(options);
  server.engine.set_script({.texts = {std::string(16 * 1024, 'z')}, .repeat_until_cancelled = true});
  Client client(server.port());
  client.shrink_receive_buffer(4096);
  client.send_request("POST", "/v1/chat/completions", hello_stream_body);
  CHECK(server.engine.wait_for_cancellations(1, 30s));
  CHECK(client.drain_until_closed());
}

TEST_CASE("an idle connection and a request that never completes are closed after the client timeout") {
  auto options = test_options();
  options.client_timeout = 200ms;
  RunningServer server(options);
  Client idle(server.port());
  Client partial(server.port());
  partial.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: 100\r\n\r\n{\"mess");
  CHECK(idle.closed_by_server());
  CHECK(partial.drain_until_closed());
  CHECK(server.engine.specs().empty());
}

TEST_CASE("shutdown stops accepting, closes idle connections and lets a stream in flight finish") {
  RunningServer server;
  server.engine.set_script({.texts = {"before", " after"}, .hold_after_first_text = true});
  Client idle(server.port());
  CHECK(fetch(server.port(), "GET", "/health").status == 200);
  Client streaming(server.port());
  streaming.send_request("POST", "/v1/chat/completions", hello_stream_body);
  REQUIRE(streaming.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));

  server.shutdown();
  CHECK(idle.closed_by_server());
  CHECK_THROWS(Client(server.port()));
  CHECK_FALSE(server.stops_within(0ms));

  server.engine.release();
  CHECK(stream_text(streaming.read_rest()) == "before after");
  CHECK(streaming.closed_by_server());
  streaming.close();
  CHECK(server.stops_within(10s));
  CHECK(server.engine.cancellations() == 0);
}

TEST_CASE("shutdown cuts what is still running at its deadline") {
  auto options = test_options();
  options.shutdown_timeout = 100ms;
  RunningServer server(options);
  server.engine.set_script({.texts = {"before", " never"}, .hold_after_first_text = true});
  Client streaming(server.port());
  streaming.send_request("POST", "/v1/chat/completions", hello_stream_body);
  REQUIRE(streaming.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));
  server.shutdown();
  CHECK(server.stops_within(10s));
  CHECK(server.engine.wait_for_cancellations(1));
  CHECK(streaming.drain_until_closed());
}

namespace {

// The lines the server logs, kept for a test; the sink writes warnings from the engine's thread.
class CapturedLog {
 public:
  serve::LogWriter writer() {
    return [this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
      changed_.notify_all();
    };
  }
  // An exchange is logged once its answer has been written, which the client may notice first.
  bool wait_for_lines(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return lines_.size() >= count; });
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  std::vector<std::string> lines_containing(std::string_view text) const {
    std::vector<std::string> found;
    for (auto &line : lines())
      if (line.find(text) != std::string::npos) found.push_back(line);
    return found;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
};

}  // namespace

TEST_CASE("an unsupported parameter is a 400 naming it, or with --drop-unsupported-params a warning and an answer") {
  const std::string body =
      R"({"model": "scripted-1", "n": 3, "tools": [{"type": "function", "function": {"name": "f"}}],)"
      R"( "messages": [{"role": "user", "content": "Hi"}]})";
  {
    RunningServer server;
    auto r = fetch(server.port(), "POST", "/v1/chat/completions", body);
    CHECK(r.status == 400);
    auto doc = parse(r.body);
    CHECK(str(doc["error"]["param"]) == "n");
    CHECK(str(doc["error"]["code"]) == "unsupported_parameter");
    CHECK(server.engine.specs().empty());
  }
  CapturedLog log;
  auto options = test_options();
  options.access_log = true;
  options.log = log.writer();
  options.drop_unsupported_params = true;
  RunningServer server(options);
  auto r = fetch(server.port(), "POST", "/v1/chat/completions", body);
  CHECK(r.status == 200);
  CHECK(str(parse(r.body)["choices"][0]["message"]["content"]) == "Hello, world");
  auto warnings = log.lines_containing("ignored unsupported parameters: n, tools");
  CHECK(warnings.size() == 1);
}

TEST_CASE("a request with tools goes only to the candidates that honour them; tool calls come back in OpenAI's shape") {
  auto body = [](bool stream) {
    return std::string(R"({"model": "scripted-1", "stream": )") + (stream ? "true" : "false") +
           R"(, "tools": [{"type": "function", "function": {"name": "weather"}}], "tool_choice": "auto",)"
           R"( "messages": [{"role": "user", "content": "Hi"},)"
           R"( {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},)"
           R"( {"role": "tool", "tool_call_id": "call_0", "content": "rain"}]})";
  };
  RunningServer server;
  server.engine.set_candidates({{"Text", {}}, {"Tools", {"param:tools"}}});
  server.engine.set_script({.texts = {},
                            .summary = {core::FinishReason::tool_calls, {5, 2}},
                            .tool_calls = {{0, "call_1", "weather", ""}, {0, "", "", R"({"city":"Oslo"})"}}});

  auto streamed = fetch(server.port(), "POST", "/v1/chat/completions", body(true));
  REQUIRE(streamed.status == 200);
  auto events = sse_data(streamed.body);
  REQUIRE(events.size() == 5);  // role, the call's first piece, its arguments, the finish, [DONE]
  auto first = parse(events[1]);
  const auto &call = first["choices"][0]["delta"]["tool_calls"][0];
  CHECK(call["index"].GetUint() == 0);
  CHECK(str(call["id"]) == "call_1");
  CHECK(str(call["type"]) == "function");
  CHECK(str(call["function"]["name"]) == "weather");
  auto piece = parse(events[2]);
  CHECK(str(piece["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]) == R"({"city":"Oslo"})");
  CHECK_FALSE(piece["choices"][0]["delta"]["tool_calls"][0].HasMember("id"));
  CHECK(str(parse(events[3])["choices"][0]["finish_reason"]) == "tool_calls");
  CHECK(events[4] == "[DONE]");

  auto whole = fetch(server.port(), "POST", "/v1/chat/completions", body(false));
  REQUIRE(whole.status == 200);
  auto doc = parse(whole.body);
  const auto &message = doc["choices"][0]["message"];
  CHECK(message["content"].IsNull());
  REQUIRE(message["tool_calls"].Size() == 1);
  CHECK(str(message["tool_calls"][0]["id"]) == "call_1");
  CHECK(str(message["tool_calls"][0]["function"]["arguments"]) == R"({"city":"Oslo"})");
  CHECK(str(doc["choices"][0]["finish_reason"]) == "tool_calls");

  auto specs = server.engine.specs();
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].required_capabilities == std::vector<std::string>{"param:tools"});
  auto passthrough = parse(specs[0].passthrough_json);
  CHECK(str(passthrough["tools"][0]["function"]["name"]) == "weather");
  CHECK(str(passthrough["tool_choice"]) == "auto");
  CHECK(str(passthrough["messages"][2]["tool_call_id"]) == "call_0");
  REQUIRE(specs[0].messages.size() == 3);
  CHECK(specs[0].messages[2].role == "tool");
}

TEST_CASE("tools no candidate honours: a 400, or dropped with a warning; a tool message is a 400 either way") {
  const std::string tools = R"({"model": "scripted-1", "tools": [{"type": "function", "function": {"name": "f"}}],)"
                            R"( "messages": [{"role": "user", "content": "Hi"}]})";
  const std::string tool_message =
      R"({"model": "scripted-1", "messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "tool_call_id": "c", "content": "x"}]})";
  {
    RunningServer server;
    server.engine.set_candidates({{"Text", {}}, {"Json", {"param:response_format"}}});
    auto r = fetch(server.port(), "POST", "/v1/chat/completions", tools);
    CHECK(r.status == 400);
    CHECK(str(parse(r.body)["error"]["param"]) == "tools");
    auto refused = fetch(server.port(), "POST", "/v1/chat/completions", tool_message);
    CHECK(refused.status == 400);
    auto doc = parse(refused.body);
    CHECK(str(doc["error"]["param"]) == "messages[1].role");
    CHECK_THAT(str(doc["error"]["message"]), Catch::Contains("(Text, Json) declares \"param:tools\""));
    CHECK(server.engine.specs().empty());
  }
  auto options = test_options();
  options.drop_unsupported_params = true;
  RunningServer server(options);
  auto dropped = fetch(server.port(), "POST", "/v1/chat/completions", tools);
  CHECK(dropped.status == 200);
  CHECK(dropped.header("x-provhost-warning") == "ignored unsupported parameters: tools");
  CHECK(fetch(server.port(), "POST", "/v1/chat/completions", tool_message).status == 400);
  auto specs = server.engine.specs();
  REQUIRE(specs.size() == 1);
  CHECK(specs[0].passthrough_json.empty());
  CHECK(specs[0].required_capabilities.empty());
}

TEST_CASE("a chat's retries and fallbacks are logged, one escaped line each naming the client, request and provider") {
  CapturedLog log;
  auto options = test_options();
  options.access_log = true;
  options.log = log.writer();
  RunningServer server(options);
  server.engine.set_script({.warnings = {{"Flaky", "HTTP 503; retrying in 0.1 s"},
                                         {"Flaky", "stalled\nprovhost serve: forged line\x1b[31m; trying Scripted"}}});
  Client client(server.port());
  client.send_request("POST", "/v1/chat/completions", hello_body);
  auto r = client.read_response();
  REQUIRE(r.status == 200);
  // The request id, as the answer's X-Request-Id and the access log give it.
  const std::string id = r.header("x-request-id");
  REQUIRE_FALSE(id.empty());

  auto warnings = log.lines_containing("provhost serve: warning: ");
  REQUIRE(warnings.size() == 2);
  const std::string prefix = "provhost serve: warning: 127.0.0.1:";
  for (const auto &line : warnings) {
    CHECK(line.rfind(prefix, 0) == 0);
    CHECK(line.find(" " + id + " Flaky: ") != std::string::npos);
    CHECK(line.find('\n') == line.size() - 1);
  }
  CHECK_THAT(warnings[0], Catch::EndsWith(" Flaky: HTTP 503; retrying in 0.1 s\n"));
  CHECK_THAT(warnings[1],
             Catch::EndsWith(" Flaky: stalled\\x0aprovhost serve: forged line\\x1b[31m; trying Scripted\n"));
  // Then the request's own line, once the answer is written.
  REQUIRE(log.wait_for_lines(3));
  auto access = log.lines_containing("provhost serve: POST /v1/chat/completions 200 Scripted scripted-1 ");
  CHECK(access.size() == 1);
}

TEST_CASE("without the access log, warnings are not logged either") {
  CapturedLog log;
  auto options = test_options();
  options.log = log.writer();
  RunningServer server(options);
  server.engine.set_script({.warnings = {{"Flaky", "HTTP 503; retrying in 0.1 s"}}});
  REQUIRE(fetch(server.port(), "POST", "/v1/chat/completions", hello_body).status == 200);
  CHECK(log.lines().empty());
}

TEST_CASE("the access log has one line per request, without query strings, and names a cut request's reason") {
  CapturedLog log;
  auto options = test_options();
  options.access_log = true;
  options.log = log.writer();
  RunningServer server(options);
  CHECK(fetch(server.port(), "GET", "/health?token=secret").status == 200);
  CHECK(fetch(server.port(), "GET", "/nowhere").status == 404);
  server.engine.set_script({.texts = {"Hi"}, .hold_after_first_text = true});
  {
    Client client(server.port());
    client.send_request("POST", "/v1/chat/completions", hello_stream_body);
    REQUIRE(client.read_header().status == 200);
    REQUIRE(server.engine.wait_for_held(1));
    client.close();
  }
  REQUIRE(server.engine.wait_for_cancellations(1));
  REQUIRE(log.wait_for_lines(3));
  auto lines = log.lines();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("provhost serve: GET /health 200 - - ", 0) == 0);
  CHECK(lines[1].rfind("provhost serve: GET /nowhere 404 - - ", 0) == 0);
  CHECK(lines[2].rfind("provhost serve: POST /v1/chat/completions 200 Scripted scripted-1 ", 0) == 0);
  CHECK_THAT(lines[2], Catch::Matches(".*ms req_[A-Za-z0-9]{24} client closed\n"));
  for (const auto &line : lines) CHECK(line.find("secret") == std::string::npos);
}

TEST_CASE("a chunked body whose trailer holds a 65,534-byte field is refused with 411, and the server lives on") {
  // Beast's parser throws (std::length_error) on a field this long, and trailers count against no
  // header limit: read, this request ended the process. It is refused before its body is read.
  RunningServer server;
  Client client(server.port());
  client.send(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Trailer: " +
      std::string(65'534, 'a') + "\r\n\r\n");
  Response r = client.read_response();
  CHECK(r.status == 411);
  CHECK(r.header("connection") == "close");
  CHECK(client.closed_by_server());
  CHECK(fetch(server.port(), "GET", "/health", "").status == 200);
  CHECK(server.engine.specs().empty());
}

TEST_CASE("a Transfer-Encoding other than chunked is a 400 and a closed connection: nothing is smuggled") {
  auto coding = GENERATE(std::string("xchunked"), std::string("identity"), std::string("chunked, identity"));
  INFO(coding);
  RunningServer server;
  Client client(server.port());
  // Read as a request with an empty body, the rest would be taken for a second request.
  client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + coding +
              "\r\n\r\nGET /v1/providers HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  Response r = client.read_response();
  CHECK(r.status == 400);
  CHECK(client.closed_by_server());  // the smuggled GET is never answered
  CHECK(server.engine.specs().empty());
}

TEST_CASE("/health/ready is 200 with a working provider, 503 without one; /health stays 200") {
  {
    RunningServer server;
    auto ready = fetch(server.port(), "GET", "/health/ready", "");
    CHECK(ready.status == 200);
    CHECK(str(parse(ready.body)["status"]) == "ready");
  }
  RunningServer server(test_options(),
                       serve::Catalog{R"({"object":"list","data":[]})", R"({"providers":[],"rejected":[]})", false});
  auto not_ready = fetch(server.port(), "GET", "/health/ready", "");
  CHECK(not_ready.status == 503);
  CHECK(str(parse(not_ready.body)["status"]) == "no working provider");
  CHECK(fetch(server.port(), "GET", "/health", "").status == 200);
}

namespace {

std::string chat_header(std::string_view content_length, std::string_view extra_headers = {}) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         std::string(extra_headers) + "Content-Length: " + std::string(content_length) + "\r\n\r\n";
}

}  // namespace

TEST_CASE("a request without the key is a 401 from its header alone, and its connection closes") {
  auto options = test_options();
  options.api_key = "sk-test-key";
  RunningServer server(options);
  auto headers = GENERATE(std::string(), std::string("Authorization: Bearer sk-wrong\r\n"));
  INFO(headers);
  Client client(server.port());
  // 4,000,000 bytes announced, none sent: only an answer from the header can arrive.
  client.send(chat_header("4000000", headers));
  Response r = client.read_response();
  CHECK(r.status == 401);
  CHECK(error_code_of(r) == "invalid_api_key");
  CHECK(r.header("connection") == "close");
  CHECK(client.closed_by_server());
  CHECK(server.engine.specs().empty());
}

TEST_CASE("a body announced over the limit is a 413 before any of it is sent") {
  auto options = test_options();
  options.max_body_bytes = 1000;
  RunningServer server(options);
  Client client(server.port());
  client.send(chat_header("1001"));
  Response r = client.read_response();
  CHECK(r.status == 413);
  CHECK(client.closed_by_server());
}

TEST_CASE("a request answered from its header alone keeps the connection when it announced no body") {
  RunningServer server;
  Client client(server.port());
  client.send_request("GET", "/nowhere");
  CHECK(client.read_response().status == 404);
  client.send_request("GET", "/health");
  CHECK(client.read_response().status == 200);
}

TEST_CASE("a cross-site POST is refused before it reaches the engine") {
  RunningServer server;
  const std::string port = std::to_string(server.port());
  SECTION("an Origin other than the server's own is a 403") {
    Response r =
        fetch(server.port(), "POST", "/v1/chat/completions", hello_body, "Origin: http://attacker.example\r\n");
    CHECK(r.status == 403);
    CHECK(error_code_of(r) == "origin_not_allowed");
    CHECK(r.header("access-control-allow-origin").empty());
    CHECK(fetch(server.port(), "GET", "/health", "", "Origin: null\r\n").status == 403);
  }
  SECTION("a text/plain body, which a page may send without a preflight, is a 415") {
    Client client(server.port());
    client.send(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: " +
        std::to_string(hello_body.size()) + "\r\n\r\n" + hello_body);
    Response r = client.read_response();
    CHECK(r.status == 415);
    CHECK(error_code_of(r) == "unsupported_media_type");
  }
  SECTION("DNS rebinding: a Host that is not this machine's is refused") {
    Client client(server.port());
    client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: attacker.example:" + port +
                "\r\nOrigin: http://attacker.example:" + port +
                "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(hello_body.size()) +
                "\r\n\r\n" + hello_body);
    Response r = client.read_response();
    CHECK(r.status == 421);
    CHECK(error_code_of(r) == "invalid_host");
  }
  SECTION("a missing or doubled Host is a 400") {
    Client missing(server.port());
    missing.send("GET /health HTTP/1.1\r\n\r\n");
    CHECK(missing.read_response().status == 400);
    Client doubled(server.port());
    doubled.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: attacker.example\r\n\r\n");
    CHECK(doubled.read_response().status == 400);
  }
  CHECK(server.engine.specs().empty());
}

TEST_CASE("the server's own names, its own origin and a JSON charset are accepted") {
  auto options = test_options();
  options.cross_site.allowed_hosts = {"my.box"};
  RunningServer server(options);
  const std::string port = std::to_string(server.port());
  for (const std::string &host :
       std::vector<std::string>{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port, "LOCALHOST", "My.Box:80"}) {
    INFO(host);
    Client client(server.port());
    client.send("GET /health HTTP/1.1\r\nHost: " + host + "\r\n\r\n");
    CHECK(client.read_response().status == 200);
  }
  Client client(server.port());
  client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:" + port + "\r\nOrigin: http://localhost:" + port +
              "\r\nContent-Type: Application/JSON; charset=utf-8\r\nContent-Length: " +
              std::to_string(hello_body.size()) + "\r\n\r\n" + hello_body);
  Response r = client.read_response();
  CHECK(r.status == 200);
  CHECK(r.header("access-control-allow-origin").empty());
}

TEST_CASE("a listed CORS origin gets its preflight answered without the key, and its answers readable") {
  auto options = test_options();
  options.api_key = "sk-test-key";
  options.cross_site.cors_origins = {"https://app.example"};
  RunningServer server(options);
  Client client(server.port());
  client.send(
      "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example\r\n"
      "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization, content-type\r\n\r\n");
  Response preflight = client.read_response();
  CHECK(preflight.status == 204);
  CHECK(preflight.header("access-control-allow-origin") == "https://app.example");
  CHECK_THAT(preflight.header("access-control-allow-methods"), Catch::Contains("POST"));
  CHECK(preflight.header("access-control-allow-headers") == "authorization, content-type, x-request-id");
  CHECK(preflight.header("access-control-max-age") == "7200");
  CHECK(preflight.header("content-length").empty());

  client.send_request("POST", "/v1/chat/completions", hello_body,
                      "Origin: https://app.example\r\nAuthorization: Bearer sk-test-key\r\n");
  Response answer = client.read_response();
  CHECK(answer.status == 200);
  CHECK(answer.header("access-control-allow-origin") == "https://app.example");
  CHECK(answer.header("vary") == "Origin");
  CHECK_THAT(answer.header("access-control-expose-headers"), Catch::Contains("x-request-id"));
  // An error is readable by the page too, so it can tell the user why.
  Response unauthorised = fetch(server.port(), "GET", "/v1/models", "", "Origin: https://app.example\r\n");
  CHECK(unauthorised.status == 401);
  CHECK(unauthorised.header("access-control-allow-origin") == "https://app.example");

  Client other(server.port());
  other.send(
      "OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://other.example\r\n"
      "Access-Control-Request-Method: POST\r\n\r\n");
  CHECK(other.read_response().status == 403);
  CHECK(server.engine.specs().size() == 1);
}

TEST_CASE("a CORS origin of * lets any page call, and says so with a wildcard") {
  auto options = test_options();
  options.cross_site.cors_origins = {"*"};
  RunningServer server(options);
  Response r = fetch(server.port(), "POST", "/v1/chat/completions", hello_body, "Origin: http://anywhere.example\r\n");
  CHECK(r.status == 200);
  CHECK(r.header("access-control-allow-origin") == "*");
}

TEST_CASE("every answer carries the request id, the client's when it sent a sane one, and the log names it") {
  CapturedLog log;
  auto options = test_options();
  options.access_log = true;
  options.log = log.writer();
  RunningServer server(options);
  CHECK(fetch(server.port(), "GET", "/health", "", "X-Request-Id: trace-42\r\n").header("x-request-id") == "trace-42");
  auto made_up = fetch(server.port(), "GET", "/nowhere", "", "X-Request-Id: has space\r\n").header("x-request-id");
  CHECK(made_up.rfind("req_", 0) == 0);
  CHECK(made_up.size() == 28);
  Client streaming(server.port());
  streaming.send_request("POST", "/v1/chat/completions", hello_stream_body, "X-Request-Id: stream-7\r\n");
  CHECK(streaming.read_header().header("x-request-id") == "stream-7");
  streaming.read_rest();
  REQUIRE(log.wait_for_lines(3));
  CHECK(log.lines_containing(" trace-42\n").size() == 1);
  CHECK(log.lines_containing(" " + made_up + "\n").size() == 1);
  CHECK(log.lines_containing(" stream-7\n").size() == 1);
}

TEST_CASE("HEAD is answered wherever GET is, with the GET's headers and no body") {
  RunningServer server;
  Response get = fetch(server.port(), "GET", "/health");
  Client client(server.port());
  client.send("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  Response head = client.read_head_response();
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == std::to_string(get.body.size()));
  CHECK(head.body.empty());
  // Had a body been sent, it would be read as the start of this answer.
  client.send_request("GET", "/v1/models");
  CHECK(client.read_response().status == 200);
  CHECK_THAT(fetch(server.port(), "DELETE", "/health").header("allow"), Catch::Contains("GET, HEAD"));
}

TEST_CASE("an unreadable request after a HEAD gets its error body: HEAD is a property of one request") {
  RunningServer server;
  Client client(server.port());
  client.send("HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE(client.read_head_response().status == 200);
  client.send("NOT A REQUEST\r\n\r\n");
  Response unreadable = client.read_response();
  CHECK(unreadable.status == 400);
  CHECK(unreadable.header("content-length") == std::to_string(unreadable.body.size()));
  CHECK_FALSE(unreadable.body.empty());
}

TEST_CASE("beyond --max-connections a new client gets a 503 at once, and those already in are served") {
  auto options = test_options();
  options.max_connections = 2;
  RunningServer server(options);
  Client first(server.port()), second(server.port());
  // An answer on each proves the server has taken both in.
  for (Client *client : {&first, &second}) {
    client->send_request("GET", "/health");
    REQUIRE(client->read_response().status == 200);
  }
  Client third(server.port());
  Response refused = third.read_response();
  CHECK(refused.status == 503);
  CHECK(error_code_of(refused) == "too_many_connections");
  CHECK(third.closed_by_server());
  first.send_request("POST", "/v1/chat/completions", hello_body);
  CHECK(first.read_response().status == 200);
}

TEST_CASE("a request that times out while it is read leaves an access-log line") {
  CapturedLog log;
  auto options = test_options();
  options.access_log = true;
  options.log = log.writer();
  options.client_timeout = 200ms;
  RunningServer server(options);
  Client header_only(server.port());
  header_only.send(chat_header("100") + "{\"mess");
  CHECK(header_only.drain_until_closed());
  Client half_header(server.port());
  half_header.send("GET /heal");
  CHECK(half_header.drain_until_closed());
  REQUIRE(log.wait_for_lines(2));
  CHECK(log.lines_containing("provhost serve: POST /v1/chat/completions 408 - - ").size() == 1);
  CHECK(log.lines_containing("provhost serve: - - 408 - - ").size() == 1);
  CHECK(log.lines_containing(" client timed out\n").size() == 2);
}

TEST_CASE("a body with bytes after its JSON value is a 400 over the wire too") {
  RunningServer server;
  Client client(server.port());
  const std::string body = hello_body + std::string("\0{\"messages\": []}", 17);
  client.send(chat_header(std::to_string(body.size())) + body);
  Response r = client.read_response();
  CHECK(r.status == 400);
  CHECK(error_code_of(r) == "invalid_json");
  CHECK(server.engine.specs().empty());
}

TEST_CASE("a streaming client slower than its chat gets every byte: the chat is held, not the client cut") {
  auto options = test_options();
  options.max_stream_backlog = 64 * 1024;
  RunningServer server(options);
  const std::string piece(16 * 1024, 'z');
  constexpr std::size_t pieces = 256;  // 4 MiB: 64 times the backlog
  // The burst begins once the chat has been handed to the server: with the real engine no text
  // comes before the upstream's answer, long after.
  server.engine.set_script({.texts = {piece}, .hold_after_first_text = true, .repeat_times = pieces});
  Client client(server.port());
  // Small enough that the socket cannot absorb the burst, not so small that TCP stalls on it.
  client.shrink_receive_buffer(64 * 1024);
  client.send_request("POST", "/v1/chat/completions", hello_stream_body);
  REQUIRE(client.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));
  server.engine.release();
  std::string text = stream_text(client.read_rest());
  CHECK(text.size() == pieces * piece.size());
  CHECK(text.find_first_not_of('z') == std::string::npos);
  CHECK(server.engine.holds() > 0);
  CHECK(server.engine.cancellations() == 0);
}

TEST_CASE("a streaming client slower than its chat's tool calls gets every piece: the chat is held") {
  auto options = test_options();
  options.max_stream_backlog = 64 * 1024;
  RunningServer server(options);
  const std::string arguments(16 * 1024, 'a');
  constexpr std::size_t pieces = 256;  // 4 MiB of arguments: 64 times the backlog
  server.engine.set_script(
      {.texts = {}, .hold_after_first_text = true, .repeat_times = pieces, .tool_calls = {{0, "", "", arguments}}});
  Client client(server.port());
  client.shrink_receive_buffer(64 * 1024);
  client.send_request("POST", "/v1/chat/completions",
                      R"({"model": "scripted-1", "stream": true, "messages": [{"role": "user", "content": "Hi"}]})");
  REQUIRE(client.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));
  server.engine.release();
  std::size_t received = 0;
  for (const std::string &event : sse_data(client.read_rest())) {
    if (event == "[DONE]") continue;
    auto doc = parse(event);
    const auto &delta = doc["choices"][0]["delta"];
    if (delta.HasMember("tool_calls")) received += delta["tool_calls"][0]["function"]["arguments"].GetStringLength();
  }
  CHECK(received == pieces * arguments.size());
  CHECK(server.engine.holds() > 0);
  CHECK(server.engine.cancellations() == 0);
}

TEST_CASE("a stream cut at the shutdown deadline ends with an error event and [DONE]") {
  CapturedLog log;
  auto options = test_options();
  options.shutdown_timeout = 100ms;
  options.access_log = true;
  options.log = log.writer();
  RunningServer server(options);
  server.engine.set_script({.texts = {"before", " never"}, .hold_after_first_text = true});
  Client streaming(server.port());
  streaming.send_request("POST", "/v1/chat/completions", hello_stream_body);
  REQUIRE(streaming.read_header().status == 200);
  REQUIRE(server.engine.wait_for_held(1));
  server.shutdown();
  auto events = sse_data(streaming.read_rest());
  REQUIRE(events.size() >= 3);
  CHECK(events.back() == "[DONE]");
  auto error = parse(events[events.size() - 2]);
  REQUIRE(error.HasMember("error"));
  CHECK(str(error["error"]["code"]) == "server_shutting_down");
  CHECK(streaming.closed_by_server());
  CHECK(server.stops_within(10s));
  CHECK(server.engine.wait_for_cancellations(1));
  REQUIRE(log.wait_for_lines(1));
  CHECK_THAT(log.lines().back(), Catch::EndsWith(" shutdown\n"));
}
