// FreeNetfly: request building, the declared retry policy and SSE answer parsing
// (plugins/freenetfly/README.md).
#include <catch2/catch.hpp>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

struct FreeNetfly {
  FakeHost host;
  Plugin plugin{PROVHOST_FREENETFLY_PLUGIN, host};

  rapidjson::Document body(const Chat &chat) { return parse_body(first_request(plugin, chat).body); }
};

std::string chunk_json(const std::string &content) {
  return "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + content + "\"}}]}";
}

}  // namespace

TEST_CASE("FreeNetfly describes itself") {
  FreeNetfly netfly;
  CHECK(netfly.plugin.name() == "FreeNetfly");
  CHECK(netfly.plugin.url() == "https://free.netfly.top");
  CHECK(netfly.plugin.info().working != 0);
  CHECK(netfly.plugin.default_model() == "gpt-3.5-turbo");
  CHECK(netfly.plugin.models() == std::vector<std::string>{"gpt-3.5-turbo", "gpt-4"});
}

TEST_CASE("FreeNetfly posts to the OpenAI route with the site's headers") {
  FreeNetfly netfly;
  Request request = first_request(netfly.plugin, single_user());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://free.netfly.top/api/openai/v1/chat/completions");
  CHECK(request.header("accept") == "application/json, text/event-stream");
  CHECK(request.header("content-type") == "application/json");
  CHECK(request.header("origin") == "https://free.netfly.top");
  CHECK(request.header("referer") == "https://free.netfly.top/");
  REQUIRE(request.header("user-agent"));
  CHECK_THAT(*request.header("user-agent"), Catch::Contains("Chrome/"));
  for (const auto &[name, value] : request.headers) CHECK(request.header_count(name) == 1);
}

TEST_CASE("FreeNetfly declares 5 attempts on connection errors and timeouts, 2 s doubling, 60 s each") {
  FreeNetfly netfly;
  Request request = first_request(netfly.plugin, single_user());
  CHECK(request.timeout_ms == 60000);
  REQUIRE(request.retry);
  CHECK(request.retry->struct_size == sizeof(ph_retry_policy));
  CHECK(request.retry->max_attempts == 5);
  CHECK(request.retry->initial_backoff_ms == 2000);
  CHECK(request.retry->backoff_multiplier == 2);
  CHECK(request.retry->retry_on == (PH_RETRY_ON_CONNECT_ERROR | PH_RETRY_ON_TIMEOUT));
}

TEST_CASE("FreeNetfly's body carries the messages, streaming and fixed sampling fields") {
  FreeNetfly netfly;
  for (const Chat &chat : {single_user(), system_user(), history(), tricky(), two_systems(), ten_kb_user()}) {
    auto body = netfly.body(chat);
    CHECK(body.MemberCount() == 7);
    CHECK(messages_field(body, "messages") == chat.messages);
    CHECK(body["stream"].IsTrue());
    CHECK(string_field(body, "model") == "gpt-3.5-turbo");
    REQUIRE(body["temperature"].IsNumber());
    CHECK(body["temperature"].GetDouble() == 0.5);
    REQUIRE(body["presence_penalty"].IsInt());
    CHECK(body["presence_penalty"].GetInt() == 0);
    REQUIRE(body["frequency_penalty"].IsInt());
    CHECK(body["frequency_penalty"].GetInt() == 0);
    REQUIRE(body["top_p"].IsInt());
    CHECK(body["top_p"].GetInt() == 1);
  }
}

TEST_CASE("FreeNetfly sends the model asked for, the default when none") {
  FreeNetfly netfly;
  Chat chat = single_user();
  chat.model = "gpt-4";
  CHECK(string_field(netfly.body(chat), "model") == "gpt-4");
  chat.model = "";
  CHECK(string_field(netfly.body(chat), "model") == "gpt-3.5-turbo");
}

TEST_CASE("FreeNetfly reads events the same however the stream is cut, up to [DONE]") {
  FreeNetfly netfly;
  Response response;
  response.body =
      ": comment\n\n"
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n"
      "data: " +
      chunk_json("Hel") +
      "\r\n\r\n"
      "data: " +
      chunk_json("lo") +
      "\n"
      "data: " +
      chunk_json(" мир 🙂") +
      "\n\n"
      "data: {not json}\n\n"
      "data: {\"object\":\"chat.completion.chunk\"}\n\n"
      "data: " +
      chunk_json("!") +
      "\r\r"
      "data: [DONE]\n\n"
      "data: " +
      chunk_json("late") + "\n\n";
  Outcome expected;
  expected.texts = {"Hel", "lo", " мир 🙂", "!"};
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: {not json}",
                       "skipped data without choices[0]: {\"object\":\"chat.completion.chunk\"}"};
  check_every_cut(netfly.plugin, single_user(), response, expected);
}

TEST_CASE("FreeNetfly reads an event left open at the end of the stream, [DONE] included") {
  FreeNetfly netfly;
  Response response{200, {}, "data: " + chunk_json("a") + "\n\ndata: " + chunk_json("b") + "\ndata: [DONE]"};
  Outcome expected;
  expected.texts = {"a", "b"};
  expected.finishes = 1;
  check_every_cut(netfly.plugin, single_user(), response, expected);

  Outcome trailing = answer_once(netfly.plugin, single_user(), {200, {}, "data: " + chunk_json("c")});
  CHECK(trailing.text() == "c");
  CHECK(trailing.finishes == 0);
}

TEST_CASE("FreeNetfly: a stream without [DONE] is not finished") {
  FreeNetfly netfly;
  Outcome expected;
  expected.texts = {"a", "b"};
  check_every_cut(netfly.plugin, single_user(),
                  {200, {}, "data: " + chunk_json("a") + "\n\ndata: " + chunk_json("b") + "\n\n"}, expected);
}

TEST_CASE("FreeNetfly reports an error object as the upstream's failure") {
  FreeNetfly netfly;
  Outcome got =
      answer_once(netfly.plugin, single_user(),
                  {200, {}, "data: " + chunk_json("a") + "\n\ndata: {\"error\":{\"message\":\"upstream busy\"}}\n\n"});
  CHECK(got.text() == "a");
  REQUIRE(got.errors.size() == 1);
  CHECK(got.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(got.errors[0].second, Catch::Contains("upstream busy"));
  CHECK(got.finishes == 0);
}

TEST_CASE("FreeNetfly hands out only UTF-8: content that is not is skipped with a warning") {
  FreeNetfly netfly;
  Response response{200,
                    {},
                    "data: " + chunk_json("ok") + "\n\ndata: " + chunk_json("bad \xFF") + "\n\ndata: " +
                        chunk_json("\\udc00") + "\n\ndata: " + chunk_json("\\u00e9") + "\n\ndata: [DONE]\n\n"};
  Outcome expected;
  expected.texts = {"ok", "\xEF\xBF\xBD", "é"};  // a lone surrogate escape reads as U+FFFD
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: " + chunk_json("bad ?")};
  check_every_cut(netfly.plugin, single_user(), response, expected);
}
