// Ylokh: request building and answer parsing, streaming and not (plugins/ylokh/README.md).
#include <catch2/catch.hpp>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

struct Ylokh {
  FakeHost host;
  Plugin plugin{PROVHOST_YLOKH_PLUGIN, host};

  rapidjson::Document body(const Chat &chat) { return parse_body(first_request(plugin, chat).body); }
};

Chat not_streaming(Chat chat) {
  chat.stream = false;
  return chat;
}

std::string delta(const std::string &delta_json) {
  return "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":" + delta_json +
         "}]}\n\n";
}

}  // namespace

TEST_CASE("Ylokh describes itself as not working, streaming and not") {
  Ylokh ylokh;
  CHECK(ylokh.plugin.name() == "Ylokh");
  CHECK(ylokh.plugin.url() == "https://chat.ylokh.xyz");
  CHECK(ylokh.plugin.info().working == 0);
  CHECK(ylokh.plugin.default_model() == "gpt-3.5-turbo");
  CHECK(ylokh.plugin.capabilities() == std::vector<std::string>{"stream", "no_stream", "message_history",
                                                                "system_message", "param:stop", "param:max_tokens",
                                                                "param:temperature", "param:top_p"});
}

TEST_CASE("Ylokh posts to the chat API with the site as origin and a 120 s timeout") {
  Ylokh ylokh;
  for (const Chat &chat : {single_user(), not_streaming(single_user())}) {
    Request request = first_request(ylokh.plugin, chat);
    CHECK(request.method == "POST");
    CHECK(request.url == "https://chatapi.ylokh.xyz/v1/chat/completions");
    CHECK(request.header("Origin") == "https://chat.ylokh.xyz");
    CHECK(request.header("Referer") == "https://chat.ylokh.xyz/");
    CHECK(request.header("Content-Type") == "application/json");
    CHECK(request.timeout_ms == 120000);
    CHECK_FALSE(request.retry);
  }
}

TEST_CASE("Ylokh's body carries the messages and fixed sampling fields") {
  Ylokh ylokh;
  for (const Chat &chat : {single_user(), system_user(), history(), tricky(), two_systems(), ten_kb_user()}) {
    auto body = ylokh.body(chat);
    CHECK(body.MemberCount() == 8);
    CHECK(messages_field(body, "messages") == chat.messages);
    CHECK(string_field(body, "model") == "gpt-3.5-turbo");
    REQUIRE(body["temperature"].IsInt());
    CHECK(body["temperature"].GetInt() == 1);
    REQUIRE(body["presence_penalty"].IsInt());
    CHECK(body["presence_penalty"].GetInt() == 0);
    REQUIRE(body["top_p"].IsInt());
    CHECK(body["top_p"].GetInt() == 1);
    REQUIRE(body["frequency_penalty"].IsInt());
    CHECK(body["frequency_penalty"].GetInt() == 0);
    CHECK(body["allow_fallback"].IsTrue());
    CHECK(body["stream"].IsTrue());
  }
  CHECK(ylokh.body(not_streaming(single_user()))["stream"].IsFalse());
}

TEST_CASE("Ylokh sends the model asked for, the default when none") {
  Ylokh ylokh;
  Chat chat = single_user();
  chat.model = "gpt-3.5-turbo";
  CHECK(string_field(ylokh.body(chat), "model") == "gpt-3.5-turbo");
  chat.model = "";
  CHECK(string_field(ylokh.body(chat), "model") == "gpt-3.5-turbo");
}

TEST_CASE("Ylokh merges the caller's options into the body, overriding") {
  Ylokh ylokh;
  Chat chat = single_user();
  chat.options_json = R"({"temperature": 0.25, "max_tokens": 50, "top_p": {"nested": [1]}})";
  auto body = ylokh.body(chat);
  CHECK(body.MemberCount() == 9);
  CHECK(body["temperature"].GetDouble() == 0.25);
  CHECK(body["max_tokens"].GetInt() == 50);
  CHECK(body["top_p"]["nested"][0].GetInt() == 1);
  CHECK(body["allow_fallback"].IsTrue());
  CHECK(messages_field(body, "messages") == chat.messages);
}

TEST_CASE("Ylokh survives a whole answer nested a million deep: a document cut short, as any other") {
  // A recursive parser would exhaust the plugin thread's stack on these bytes from the upstream.
  Ylokh ylokh;
  Outcome got = answer_once(ylokh.plugin, not_streaming(single_user()), {200, {}, std::string(1'000'000, '[')});
  CHECK(got == Outcome{});  // neither finished nor an error: the host reports the answer truncated
  std::string closed = std::string(1'000'000, '[') + std::string(1'000'000, ']');
  Outcome garbage = answer_once(ylokh.plugin, not_streaming(single_user()), {200, {}, closed});
  CHECK(garbage.texts.empty());
  CHECK(garbage.finishes + garbage.errors.size() == 1);
}

TEST_CASE("Ylokh reads the answer whole when an option turns streaming off") {
  Ylokh ylokh;
  Chat chat = single_user();
  chat.options_json = R"({"stream": false})";
  CHECK(ylokh.body(chat)["stream"].IsFalse());
  Outcome got = answer_once(ylokh.plugin, chat, {200, {}, R"({"choices":[{"message":{"content":"whole"}}]})"});
  CHECK(got.text() == "whole");
  CHECK(got.finishes == 1);

  chat.options_json = R"({"stream": "yes"})";
  Session session(ylokh.plugin, chat);
  CHECK(session.open_status() == PH_FAILED);
  REQUIRE(session.outcome().errors.size() == 1);
  CHECK(session.outcome().errors[0].first == PH_FAIL_BAD_REQUEST);
}

TEST_CASE("Ylokh reads a stream the same however it is cut, up to [DONE]") {
  Ylokh ylokh;
  Response response;
  response.body = delta(R"({"role":"assistant"})") + delta(R"({"content":"Hel"})") + delta(R"({"content":""})") +
                  delta(R"({"content":"lo \"мир\" 🙂\n"})") + delta(R"({"content":null})") + "data: [DONE]\n\n" +
                  delta(R"({"content":"after the end"})");
  Outcome expected;
  expected.texts = {"Hel", "lo \"мир\" 🙂\n"};
  expected.finishes = 1;
  check_every_cut(ylokh.plugin, single_user(), response, expected);
}

TEST_CASE("Ylokh: a stream without [DONE] is not finished") {
  Ylokh ylokh;
  Response response{200, {}, delta(R"({"content":"cut"})") + "data: {\"choices\":[{\"delta\":{\"content\":\"sh"};
  Outcome expected;
  expected.texts = {"cut"};
  expected.warnings = {"skipped undecodable data: {\"choices\":[{\"delta\":{\"content\":\"sh"};
  check_every_cut(ylokh.plugin, single_user(), response, expected);
}

TEST_CASE("Ylokh skips an undecodable chunk with a warning") {
  Ylokh ylokh;
  Outcome got = answer_once(
      ylokh.plugin, single_user(),
      {200, {}, delta(R"({"content":"a"})") + "data: not json\n\n" + delta(R"({"content":"b"})") + "data: [DONE]\n\n"});
  CHECK(got.text() == "ab");
  CHECK(got.finishes == 1);
  CHECK(got.warnings.size() == 1);
}

TEST_CASE("Ylokh reports an error object in the stream as the upstream's failure") {
  Ylokh ylokh;
  Outcome got =
      answer_once(ylokh.plugin, single_user(),
                  {200, {}, delta(R"({"content":"a"})") + "data: {\"error\":{\"message\":\"model overloaded\"}}\n\n"});
  CHECK(got.text() == "a");
  CHECK(got.finishes == 0);
  REQUIRE(got.errors.size() == 1);
  CHECK(got.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(got.errors[0].second, Catch::Contains("model overloaded"));
}

TEST_CASE("Ylokh reads a non-streamed answer whole, however it is cut") {
  Ylokh ylokh;
  Response response{
      200,
      {},
      R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Привет 🙂 \"q\""}}]})"};
  Outcome expected;
  expected.texts = {"Привет 🙂 \"q\""};
  expected.finishes = 1;
  check_every_cut(ylokh.plugin, not_streaming(single_user()), response, expected);
}

TEST_CASE("Ylokh: a non-streamed answer cut short is not finished, nor an error") {
  Ylokh ylokh;
  const std::string whole = R"({"choices":[{"message":{"content":"Привет, мир"}}]})";
  for (size_t size = 1; size < whole.size(); ++size) {
    INFO(whole.substr(0, size));
    Outcome got = answer_once(ylokh.plugin, not_streaming(single_user()), {200, {}, whole.substr(0, size) + "\n"});
    CHECK(got == Outcome{});
  }
}

TEST_CASE("Ylokh: a non-streamed error object or non-answer fails the chat") {
  Ylokh ylokh;
  Outcome error = answer_once(ylokh.plugin, not_streaming(single_user()), {200, {}, R"({"error":"no credits"})"});
  REQUIRE(error.errors.size() == 1);
  CHECK(error.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(error.errors[0].second, Catch::Contains("no credits"));
  CHECK(error.finishes == 0);

  for (const char *body :
       {"<html>oops</html>", R"({"choices":[{"message":{"content":"a\q"}}]})", R"({"id":"x"})", ""}) {
    INFO(body);
    Outcome garbage = answer_once(ylokh.plugin, not_streaming(single_user()), {200, {}, body});
    REQUIRE(garbage.errors.size() == 1);
    CHECK(garbage.errors[0].first == PH_FAIL_PROTOCOL);
    CHECK(garbage.finishes == 0);
    CHECK(garbage.texts.empty());
  }
}

TEST_CASE("Ylokh hands out only UTF-8: content that is not is skipped with a warning, however the stream is cut") {
  Ylokh ylokh;
  auto chunk = [](const std::string &content) {
    return "data: {\"choices\":[{\"delta\":{\"content\":\"" + content + "\"}}]}\n\n";
  };
  Response response{
      200, {}, chunk("ok") + chunk("bad \xFF") + chunk("\\udc00") + chunk("\\ud83e\\udd8a!") + "data: [DONE]\n\n"};
  Outcome expected;
  expected.texts = {"ok", "\xEF\xBF\xBD", "🦊!"};  // a lone surrogate escape reads as U+FFFD
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: {\"choices\":[{\"delta\":{\"content\":\"bad ?\"}}]}"};
  check_every_cut(ylokh.plugin, single_user(), response, expected);

  Outcome whole = answer_once(ylokh.plugin, not_streaming(single_user()),
                              {200, {}, "{\"choices\":[{\"message\":{\"content\":\"\xFF\"}}]}"});
  REQUIRE(whole.errors.size() == 1);
  CHECK(whole.errors[0].first == PH_FAIL_PROTOCOL);
  CHECK_THAT(whole.errors[0].second, Catch::Contains("not JSON"));
  CHECK(whole.texts.empty());
}
