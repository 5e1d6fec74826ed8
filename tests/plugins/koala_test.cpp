// Koala: request building and answer parsing (plugins/koala/README.md).
#include <catch2/catch.hpp>

#include "conversations.hpp"

using namespace provhost::test;

namespace {

const std::string kAlphanumeric = "abcdefghijklmnopqrstuvwxyz0123456789";

struct Koala {
  FakeHost host;
  Plugin plugin{PROVHOST_KOALA_PLUGIN, host};

  rapidjson::Document body(const Chat &chat) { return parse_body(first_request(plugin, chat).body); }
};

}  // namespace

TEST_CASE("Koala describes itself") {
  Koala koala;
  CHECK(koala.plugin.name() == "Koala");
  CHECK(koala.plugin.url() == "https://koala.sh");
  CHECK(koala.plugin.info().working != 0);
  CHECK(koala.plugin.default_model() == "gpt-4o-mini");
  CHECK(koala.plugin.capabilities() == std::vector<std::string>{"stream", "message_history"});
}

TEST_CASE("Koala posts JSON to /api/gpt/ with the site's headers") {
  Koala koala;
  Request request = first_request(koala.plugin, single_user());
  CHECK(request.method == "POST");
  CHECK(request.url == "https://koala.sh/api/gpt/");
  CHECK(request.header("Content-Type") == "application/json");
  CHECK(request.header("Accept") == "text/event-stream");
  CHECK(request.header("Referer") == "https://koala.sh/chat");
  CHECK(request.header("Origin") == "https://koala.sh");
  CHECK(request.header("Flag-Real-Time-Data") == "false");
  CHECK(request.header("Alt-Used") == "koala.sh");
  CHECK(request.header("Sec-Fetch-Dest") == "empty");
  CHECK(request.header("Sec-Fetch-Mode") == "cors");
  CHECK(request.header("Sec-Fetch-Site") == "same-origin");
  CHECK(request.header("Accept-Language"));
  REQUIRE(request.header("User-Agent"));
  CHECK_THAT(*request.header("User-Agent"), Catch::Contains("Firefox/"));
  for (const auto &[name, value] : request.headers) CHECK(request.header_count(name) == 1);
  CHECK_FALSE(request.retry);
}

TEST_CASE("Koala's Visitor-ID is 20 characters of [a-z0-9] from the host's randomness") {
  Koala koala;
  auto visitor = [&](uint64_t seed) {
    koala.host.reseed(seed);
    return *first_request(koala.plugin, single_user()).header("Visitor-ID");
  };
  const std::string first = visitor(7);
  CHECK(first.size() == 20);
  CHECK(first.find_first_not_of(kAlphanumeric) == std::string::npos);
  CHECK(visitor(7) == first);
  CHECK(visitor(8) != first);
}

TEST_CASE("Koala: a single user message is the input") {
  Koala koala;
  auto body = koala.body(single_user());
  CHECK(body.MemberCount() == 4);
  CHECK(string_field(body, "input") == "Hello");
  CHECK(strings_field(body, "inputHistory").empty());
  CHECK(strings_field(body, "outputHistory").empty());
  CHECK(string_field(body, "model") == "gpt-4o-mini");
}

TEST_CASE("Koala: a system message is appended to the input after a space") {
  Koala koala;
  auto body = koala.body(system_user());
  CHECK(string_field(body, "input") == "Hello Be brief.");
  CHECK(strings_field(body, "inputHistory").empty());
  CHECK(strings_field(body, "outputHistory").empty());
}

TEST_CASE("Koala: earlier user turns go to inputHistory, assistant turns to outputHistory") {
  Koala koala;
  auto body = koala.body(history());
  CHECK(string_field(body, "input") == "Tell a joke Be brief.");
  CHECK(strings_field(body, "inputHistory") == std::vector<std::string>{"Hi"});
  CHECK(strings_field(body, "outputHistory") == std::vector<std::string>{"Hello! How can I help?"});
}

TEST_CASE("Koala: two system messages are joined by a space") {
  Koala koala;
  CHECK(string_field(koala.body(two_systems()), "input") == "Hello Be brief. Answer in French.");
}

TEST_CASE("Koala: Cyrillic, emoji, quotes, backslashes and line breaks survive the body") {
  Koala koala;
  CHECK(string_field(koala.body(tricky()), "input") == kTrickyText);
  Chat turns = chat_of({{"user", kTrickyText}, {"assistant", kTrickyText}, {"user", "again"}});
  auto body = koala.body(turns);
  CHECK(strings_field(body, "inputHistory") == std::vector<std::string>{kTrickyText});
  CHECK(strings_field(body, "outputHistory") == std::vector<std::string>{kTrickyText});
}

TEST_CASE("Koala: a 10 KB message is sent whole") {
  Koala koala;
  Chat chat = ten_kb_user();
  CHECK(string_field(koala.body(chat), "input") == chat.messages[0].second);
}

TEST_CASE("Koala: the model is sent as asked, the default when none") {
  Koala koala;
  Chat chat = single_user();
  chat.model = "gpt-4o-mini";
  CHECK(string_field(koala.body(chat), "model") == "gpt-4o-mini");
  chat.model = "";
  CHECK(string_field(koala.body(chat), "model") == koala.plugin.default_model());
}

TEST_CASE("Koala reads data lines the same however the answer is cut") {
  Koala koala;
  Response response;
  response.body =
      "data: \"Hel\"\n"
      "data: \"lo, \"\n\n"
      ": keep-alive\n"
      "data: \"мир 🙂\"\r\n"
      "event: note\n"
      "data: {\"usage\": 3}\n"
      "data: \"!\"";  // the last line has no line break
  Outcome expected;
  expected.texts = {"Hel", "lo, ", "мир 🙂", "!"};
  expected.finishes = 1;
  check_every_cut(koala.plugin, single_user(), response, expected);
}

TEST_CASE("Koala skips an undecodable line with a warning") {
  Koala koala;
  Outcome got = answer_once(koala.plugin, single_user(), {200, {}, "data: \"a\"\ndata: {oops\ndata: \"b\"\n"});
  CHECK(got.text() == "ab");
  CHECK(got.finishes == 1);
  REQUIRE(got.warnings.size() == 1);
  CHECK_THAT(got.warnings[0], Catch::Contains("{oops"));
  CHECK(got.errors.empty());
}

TEST_CASE("Koala reports an error object as the upstream's failure") {
  Koala koala;
  Outcome got =
      answer_once(koala.plugin, single_user(),
                  {200, {}, "data: \"a\"\ndata: {\"error\": {\"message\": \"quota exceeded\"}}\ndata: \"b\"\n"});
  CHECK(got.text() == "a");
  CHECK(got.finishes == 0);
  REQUIRE(got.errors.size() == 1);
  CHECK(got.errors[0].first == PH_FAIL_UPSTREAM);
  CHECK_THAT(got.errors[0].second, Catch::Contains("quota exceeded"));
}

TEST_CASE("Koala finishes only when the response ends cleanly") {
  Koala koala;
  Session session(koala.plugin, single_user());
  REQUIRE(session.next_request());
  REQUIRE(session.start_response(200) == PH_RESPONSE_READ);
  CHECK(session.body("data: \"a\"\n") == PH_OK);
  CHECK(session.outcome().finishes == 0);
  CHECK(session.end_response() == PH_OK);
  CHECK(session.outcome().finishes == 1);
  CHECK_FALSE(session.next_request());
  CHECK(session.last_status() == PH_DONE);
}

TEST_CASE("Koala hands out only UTF-8: a line whose text is not is skipped with a warning, however it is cut") {
  Koala koala;
  Response response{
      200, {}, "data: \"ok \\u00e9\"\ndata: \"\\udc00\"\n\ndata: \"bad \xFF\"\ndata: \"\\ud83e\\udd8a\"\n"};
  Outcome expected;
  expected.texts = {"ok é", "\xEF\xBF\xBD", "🦊"};  // a lone surrogate escape reads as U+FFFD
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: \"bad ?\""};
  check_every_cut(koala.plugin, single_user(), response, expected);
}

TEST_CASE("Koala reads a line the same whether its string ends it or more follows, however it is cut") {
  Koala koala;
  // Strings that end their lines (read where they start), one with whitespace after it and one without the
  // space after the colon (read as whole lines), escapes of every kind, and an escape cut short by its line's end.
  Response response{200,
                    {},
                    "data: \"a\"\r\ndata: \"b\" \ndata: \" \\u0063\\\"\\\\\\n\"\rdata:\"skipped\"\n"
                    "data: \"\\u00\"\ndata: \"\\ud83e\\udd8a\"\n"};
  Outcome expected;
  expected.texts = {"a", "b", " c\"\\\n", "🦊"};
  expected.finishes = 1;
  expected.warnings = {"skipped undecodable data: \"\\u00\""};
  check_every_cut(koala.plugin, single_user(), response, expected);
}
