// `provhost serve` as users run it: the real binary with the real plugins in front of the upstream
// emulator, driven by raw HTTP. Every provider answers through it; fallback is invisible to the
// client; an upstream 429 stays a 429; a client that hangs up closes the upstream connection;
// SIGTERM lets a stream in flight finish and exits 0; the access log has one line per request and
// no secrets; bad options fail with one line.
#include <rapidjson/document.h>
#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <memory>
#include <provhost/bundled_providers.hpp>
#include <string>
#include <thread>

#include "http_client.hpp"
#include "support/process.hpp"

using namespace provhost;
using namespace provhost::serve_test;
using namespace std::chrono_literals;

namespace {

// The bundled providers, as the build lists them.
const std::vector<std::string> providers = [] {
  std::vector<std::string> names;
  for (const auto &bundled : bundled::providers) names.emplace_back(bundled.name);
  return names;
}();

// The emulator in-process, `provhost serve` as a child process pointed at it.
class Served {
 public:
  // `with_instance`: also the emulator's OpenAI-compatible endpoint, as the OpenAICompatible instance "Emu" (model
  // gpt-4o-mini), the one provider that declares tools and response formats.
  explicit Served(std::vector<std::string> serve_args = {}, emulator::Config config = {}, bool with_instance = false)
      : upstream_(config) {
    upstream_.start();
    std::vector<std::string> argv = {test::provhost_binary()};
    for (const std::string &name : providers) {
      argv.push_back("--upstream");
      argv.push_back(std::string(name) + "=" + upstream_.origin());
    }
    argv.insert(argv.end(), {"serve", "--listen", "127.0.0.1:0"});
    argv.insert(argv.end(), serve_args.begin(), serve_args.end());
    test::Environment env{{"PROVHOST_BACKOFF_SCALE", "0.01"}, {"PROVHOST_PLUGIN_PATH", ""}, {"PROVHOST_API_KEY", ""}};
    if (with_instance) {
      env.insert(env.end(), {{"PROVHOST_INSTANCES", "Emu"},
                             {"PROVHOST_EMU_BASE_URL", upstream_.origin() + "/openai/v1"},
                             {"PROVHOST_EMU_API_KEY_ENV", "EMU_TEST_KEY"},
                             {"EMU_TEST_KEY", "sk-emulator"},
                             {"PROVHOST_EMU_MODELS", "gpt-4o-mini"}});
    }
    process_ = std::make_unique<test::BackgroundProcess>(argv, env);
    auto line = process_->wait_for_line([](const std::string &l) { return l.rfind("listening on ", 0) == 0; });
    if (!line) FAIL("provhost serve did not start: " << process_->err());
    port_ = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  }

  uint16_t port() const { return port_; }
  emulator::Emulator &upstream() { return upstream_; }
  test::BackgroundProcess &process() { return *process_; }

 private:
  emulator::Emulator upstream_;
  std::unique_ptr<test::BackgroundProcess> process_;
  uint16_t port_ = 0;
};

std::string chat_body(const std::string &model, bool stream, const std::string &provider = "") {
  std::string body = R"({"model": ")" + model + R"(", "stream": )" + (stream ? "true" : "false");
  if (!provider.empty()) body += R"(, "provider": ")" + provider + "\"";
  return body + R"(, "messages": [{"role": "user", "content": "Hello there"}]})";
}

rapidjson::Document parse(const std::string &json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  INFO(json);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string str(const rapidjson::Value &v) { return {v.GetString(), v.GetStringLength()}; }

// The text of a complete event stream, and the provider its chunks name.
std::pair<std::string, std::string> stream_text(const std::string &body) {
  auto events = sse_data(body);
  REQUIRE_FALSE(events.empty());
  CHECK(events.back() == "[DONE]");
  std::string text, provider;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto doc = parse(events[i]);
    REQUIRE(doc.HasMember("choices"));
    provider = str(doc["provider"]);
    const auto &delta = doc["choices"][0]["delta"];
    if (delta.HasMember("content")) text += str(delta["content"]);
  }
  return {text, provider};
}

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

}  // namespace

TEST_CASE("every provider answers through serve, streaming and not") {
  Served served;
  const std::string expected = served.upstream().expected_text();
  for (const std::string &provider : providers) {
    INFO(provider);
    auto whole = fetch(served.port(), "POST", "/v1/chat/completions", chat_body("", false, provider));
    REQUIRE(whole.status == 200);
    auto doc = parse(whole.body);
    CHECK(str(doc["choices"][0]["message"]["content"]) == expected);
    CHECK(str(doc["provider"]) == provider);

    auto streamed = fetch(served.port(), "POST", "/v1/chat/completions", chat_body("", true, provider));
    REQUIRE(streamed.status == 200);
    CHECK(stream_text(streamed.body) == std::make_pair(expected, std::string(provider)));
  }
}

TEST_CASE("a provider that fails before its first token falls back to the next, unseen by the client") {
  Served served;
  // gpt-4o-mini without a provider: ChatgptFree (by its alias), then Koala.
  auto first = stream_text(fetch(served.port(), "POST", "/v1/chat/completions", chat_body("gpt-4o-mini", true)).body);
  REQUIRE(first.first == served.upstream().expected_text());
  const std::string first_choice = first.second;
  const std::string route = first_choice == "Koala" ? "koala" : "chatgptfree";
  served.upstream().set_fault(route, "server_error");

  auto r = fetch(served.port(), "POST", "/v1/chat/completions", chat_body("gpt-4o-mini", true));
  CHECK(r.status == 200);
  auto [text, provider] = stream_text(r.body);
  CHECK(text == served.upstream().expected_text());
  CHECK(provider != first_choice);
  CHECK_FALSE(provider.empty());
  // Unseen by the client, but not by the operator: the fallback is logged.
  CHECK(eventually([&] {
    return served.process().err().find(" " + first_choice + ": ") != std::string::npos &&
           served.process().err().find("provhost serve: warning: 127.0.0.1:") != std::string::npos;
  }));
}

TEST_CASE("an upstream rate limit is a 429 and an unknown model a 404, streaming or not") {
  auto stream = GENERATE(false, true);
  Served served;
  served.upstream().set_fault("koala", "rate_limit");
  auto limited = fetch(served.port(), "POST", "/v1/chat/completions", chat_body("Koala/gpt-4o-mini", stream));
  CHECK(limited.status == 429);
  CHECK(str(parse(limited.body)["error"]["type"]) == "rate_limit_error");
  auto unknown = fetch(served.port(), "POST", "/v1/chat/completions", chat_body("no-such-model", stream));
  CHECK(unknown.status == 404);
  CHECK(str(parse(unknown.body)["error"]["code"]) == "model_not_found");
}

TEST_CASE("a client that disconnects mid-stream closes its upstream connection") {
  Served served;
  served.upstream().set_fault("koala", "stall");
  Client client(served.port());
  client.send_request("POST", "/v1/chat/completions", chat_body("Koala/gpt-4o-mini", true));
  REQUIRE(client.read_header().status == 200);
  REQUIRE(served.upstream().open_connections() >= 1);
  client.close();
  CHECK(eventually([&] { return served.upstream().open_connections() == 0; }));
  CHECK(eventually([&] { return served.process().err().find("client closed") != std::string::npos; }));
}

TEST_CASE("SIGTERM lets a stream in flight finish, then exits 0; the access log holds no secrets") {
  emulator::Config long_answer;
  long_answer.chunks = 20000;
  long_answer.write_size = 1024;
  Served served({"--api-key", "sk-very-secret"}, long_answer);
  const std::string expected = served.upstream().expected_text();

  Client client(served.port());
  client.send_request("POST", "/v1/chat/completions?key=sk-query-secret", chat_body("Koala/gpt-4o-mini", true),
                      "Authorization: Bearer sk-very-secret\r\n");
  REQUIRE(client.read_header().status == 200);
  served.process().send_signal(SIGTERM);
  auto [text, provider] = stream_text(client.read_rest());
  CHECK(text.size() == expected.size());
  CHECK(text == expected);
  client.close();
  CHECK(served.process().wait(10s) == 0);

  std::string log = served.process().err();
  CHECK_THAT(log, Catch::Contains("POST /v1/chat/completions 200 Koala gpt-4o-mini"));
  CHECK_THAT(log, !Catch::Contains("sk-very-secret"));
  CHECK_THAT(log, !Catch::Contains("sk-query-secret"));
}

TEST_CASE("bad serve options fail with one line and a usage exit code") {
  auto bad_listen = test::run_process({test::provhost_binary(), "serve", "--listen", "127.0.0.1:99999"});
  CHECK(bad_listen.exit_code == 2);
  CHECK_THAT(bad_listen.err, Catch::StartsWith("provhost: --listen:"));
  CHECK(std::count(bad_listen.err.begin(), bad_listen.err.end(), '\n') == 1);
  CHECK(test::run_process({test::provhost_binary(), "serve", "--listen", "nonsense"}).exit_code == 2);
}

TEST_CASE("a port already in use is reported in one line") {
  Served served;
  auto second =
      test::run_process({test::provhost_binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(served.port())});
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err, Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(served.port())));
}

namespace {

const std::string weather_tool =
    R"({"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}})";

std::string tools_body(bool stream, const std::string &messages) {
  return R"({"model": "gpt-4o-mini", "stream": )" + std::string(stream ? "true" : "false") + R"(, "tools": [)" +
         weather_tool + R"(], "messages": )" + messages + "}";
}

const std::string question = R"([{"role": "user", "content": "Weather in Oslo?"}])";
const std::string answered =
    R"([{"role": "user", "content": "Weather in Oslo?"},)"
    R"( {"role": "assistant", "content": null, "tool_calls": [{"id": "call_emulator_1", "type": "function", "function": {"name": "weather", "arguments": "{\"query\":\"emulator\"}"}}]},)"
    R"( {"role": "tool", "tool_call_id": "call_emulator_1", "content": "rain"}])";

}  // namespace

TEST_CASE("tools go only to the provider that declares them, and its tool calls come back through both endpoints") {
  Served served({}, {}, true);

  SECTION("chat completions, whole") {
    auto r = fetch(served.port(), "POST", "/v1/chat/completions", tools_body(false, question));
    REQUIRE(r.status == 200);
    auto doc = parse(r.body);
    CHECK(str(doc["provider"]) == "Emu");  // Koala lists gpt-4o-mini too, and comes first, but has no tools
    const auto &message = doc["choices"][0]["message"];
    CHECK(message["content"].IsNull());
    REQUIRE(message["tool_calls"].Size() == 1);
    CHECK(str(message["tool_calls"][0]["id"]) == "call_emulator_1");
    CHECK(str(message["tool_calls"][0]["type"]) == "function");
    CHECK(str(message["tool_calls"][0]["function"]["name"]) == "weather");
    CHECK(str(message["tool_calls"][0]["function"]["arguments"]) == R"({"query":"emulator"})");
    CHECK(str(doc["choices"][0]["finish_reason"]) == "tool_calls");
  }
  SECTION("chat completions, streamed: the pieces add up to the call") {
    auto r = fetch(served.port(), "POST", "/v1/chat/completions", tools_body(true, question));
    REQUIRE(r.status == 200);
    auto events = sse_data(r.body);
    REQUIRE(events.size() >= 4);
    CHECK(events.back() == "[DONE]");
    std::string id, name, arguments, finish;
    for (std::size_t i = 0; i + 1 < events.size(); ++i) {
      auto doc = parse(events[i]);
      const auto &choice = doc["choices"][0];
      if (!choice["finish_reason"].IsNull()) finish = str(choice["finish_reason"]);
      if (!choice["delta"].HasMember("tool_calls")) continue;
      const auto &call = choice["delta"]["tool_calls"][0];
      CHECK(call["index"].GetUint() == 0);
      if (call.HasMember("id")) {
        CHECK(id.empty());  // the id and name come once, on the first piece
        id = str(call["id"]);
        name = str(call["function"]["name"]);
      }
      arguments += str(call["function"]["arguments"]);
    }
    CHECK(id == "call_emulator_1");
    CHECK(name == "weather");
    CHECK(arguments == R"({"query":"emulator"})");
    CHECK(finish == "tool_calls");
  }
  SECTION("the tool's answer goes back, and the model answers in text") {
    auto r = fetch(served.port(), "POST", "/v1/chat/completions", tools_body(false, answered));
    REQUIRE(r.status == 200);
    auto doc = parse(r.body);
    CHECK(str(doc["choices"][0]["message"]["content"]) == "The tool said: rain");
    CHECK(str(doc["choices"][0]["finish_reason"]) == "stop");
  }
  SECTION("response_format json_object reaches the provider that declares it") {
    auto r =
        fetch(served.port(), "POST", "/v1/chat/completions",
              R"({"model": "gpt-4o-mini", "response_format": {"type": "json_object"}, "messages": )" + question + "}");
    REQUIRE(r.status == 200);
    auto doc = parse(r.body);
    CHECK(str(doc["provider"]) == "Emu");
    auto answer = parse(str(doc["choices"][0]["message"]["content"]));
    CHECK(str(answer["answer"]) == served.upstream().expected_text());
  }
  SECTION("the Responses API: a function_call item, whole and streamed, and the round trip") {
    const std::string tools = R"("tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}])";
    auto whole = fetch(served.port(), "POST", "/v1/responses",
                       R"({"model": "gpt-4o-mini", "input": "Weather in Oslo?", )" + tools + "}");
    REQUIRE(whole.status == 200);
    auto doc = parse(whole.body);
    REQUIRE(doc["output"].Size() == 1);
    const auto &call = doc["output"][0];
    CHECK(str(call["type"]) == "function_call");
    CHECK(str(call["call_id"]) == "call_emulator_1");
    CHECK(str(call["name"]) == "weather");
    CHECK(str(call["arguments"]) == R"({"query":"emulator"})");

    auto streamed = fetch(served.port(), "POST", "/v1/responses",
                          R"({"model": "gpt-4o-mini", "stream": true, "input": "Weather in Oslo?", )" + tools + "}");
    REQUIRE(streamed.status == 200);
    std::string deltas, done_arguments;
    for (const std::string &data : sse_data(streamed.body)) {
      auto event = parse(data);
      const std::string type = str(event["type"]);
      if (type == "response.function_call_arguments.delta") deltas += str(event["delta"]);
      if (type == "response.function_call_arguments.done") done_arguments = str(event["arguments"]);
    }
    CHECK(deltas == R"({"query":"emulator"})");
    CHECK(done_arguments == deltas);

    auto round_trip =
        fetch(served.port(), "POST", "/v1/responses",
              R"({"model": "gpt-4o-mini", )" + tools +
                  R"(, "input": [{"role": "user", "content": "Weather in Oslo?"},)"
                  R"( {"type": "function_call", "call_id": "call_emulator_1", "name": "weather", "arguments": "{}"},)"
                  R"( {"type": "function_call_output", "call_id": "call_emulator_1", "output": "rain"}]})");
    REQUIRE(round_trip.status == 200);
    auto answer = parse(round_trip.body);
    CHECK(str(answer["output"][0]["content"][0]["text"]) == "The tool said: rain");
  }
  SECTION("a provider without tools, named: a 400 naming tools, and the tool message named too") {
    auto r =
        fetch(served.port(), "POST", "/v1/chat/completions",
              R"({"model": "Koala/gpt-4o-mini", "tools": [)" + weather_tool + R"(], "messages": )" + question + "}");
    CHECK(r.status == 400);
    CHECK(str(parse(r.body)["error"]["param"]) == "tools");
    auto message = fetch(served.port(), "POST", "/v1/chat/completions",
                         R"({"model": "Koala/gpt-4o-mini", "messages": )" + answered + "}");
    CHECK(message.status == 400);
    CHECK(str(parse(message.body)["error"]["param"]) == "messages[1].tool_calls");
  }
}
