// conversations.hpp: the conversations every plugin's request building is checked against, and small
// helpers for reading a JSON body and for checking that cutting an answer changes nothing.
#pragma once

#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "plugin_driver.hpp"
#include "support/json_fields.hpp"

namespace provhost::test {

// Cyrillic, an emoji (4-byte UTF-8), quotes, backslashes, a tab and line breaks: everything that JSON
// and form encoding must escape or carry through.
inline const std::string kTrickyText =
    "Привет, мир! 🙂 She said \"hi\" \\ 'quoted' C:\\path\\n\nline two\r\nline three\ttab \\u0041 </script>";

inline Chat single_user() { return chat_of({{"user", "Hello"}}); }
inline Chat system_user() { return chat_of({{"system", "Be brief."}, {"user", "Hello"}}); }
inline Chat history() {
  return chat_of(
      {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello! How can I help?"}, {"user", "Tell a joke"}});
}
inline Chat tricky() { return chat_of({{"user", kTrickyText}}); }
inline Chat two_systems() {
  return chat_of({{"system", "Be brief."}, {"system", "Answer in French."}, {"user", "Hello"}});
}
inline Chat ten_kb_user() {
  std::string big;
  for (int i = 0; big.size() < 10 * 1024; ++i) big += "word" + std::to_string(i) + " ";
  return chat_of({{"user", big}});
}

inline rapidjson::Document parse_body(const std::string &body) {
  rapidjson::Document document = parse_json(body);
  REQUIRE(document.IsObject());
  return document;
}

// The first request a session of `plugin` asks for.
inline Request first_request(const Plugin &plugin, const Chat &chat) {
  Session session(plugin, chat);
  INFO("errors reported: " << session.outcome().errors.size());
  REQUIRE(session.open_status() == PH_OK);
  std::optional<Request> request = session.next_request();
  REQUIRE(request);
  return *request;
}

// Every cut of the response body must give exactly `expected`, the outcome the protocol promises.
inline void check_every_cut(const Plugin &plugin, const Chat &chat, const Response &response, const Outcome &expected,
                            size_t three_way_limit = 160) {
  for (const std::vector<size_t> &cuts : cut_plans(response.body.size(), three_way_limit)) {
    Outcome got = answer_once(plugin, chat, response, cuts);
    if (got == expected) continue;
    std::string plan;
    for (size_t cut : cuts) plan += std::to_string(cut) + " ";
    INFO("cut at: " << plan);
    CHECK(got.texts == expected.texts);
    CHECK(got.finishes == expected.finishes);
    CHECK(got.warnings == expected.warnings);
    REQUIRE(got == expected);
  }
  for (const std::string &piece : expected.texts) CHECK(is_utf8(piece));
}

}  // namespace provhost::test
