// HAR files: written and read back, and replayed into a session against what was recorded.
#include <catch2/catch.hpp>
#include <provhost/testing/har.hpp>
#include <provhost/testing/plugin.hpp>
#include <stdexcept>
#include <string>

#include "contract_plugin.hpp"

using namespace provhost::testing;

namespace {

Har recorded(std::string body, HarAnswer answer) {
  Har har;
  HarEntry entry;
  entry.request.method = "POST";
  entry.request.url = "https://example.com/chat?key=1";
  entry.request.headers = {{"Accept", "text/plain"}};
  entry.request.body = "hello";
  entry.response = Response{200, {{"Content-Type", "text/plain"}}, std::move(body)};
  entry.provider = "Contract";
  har.entries.push_back(entry);
  har.provider = "Contract";
  har.chat = chat_of({{"user", "hi"}}, "echo");
  har.answer = std::move(answer);
  return har;
}

}  // namespace

TEST_CASE("a HAR file reads back as it was written, bytes that are not UTF-8 included") {
  Har har = recorded("caf\xc3\xa9\n\xff\xfe\nEND\n", HarAnswer{"caf\xc3\xa9", true, ""});
  Har back = parse_har(write_har(har));
  REQUIRE(back.entries.size() == 1);
  CHECK(back.entries[0].request.method == "POST");
  CHECK(back.entries[0].request.url == "https://example.com/chat?key=1");
  CHECK(back.entries[0].request.body == "hello");
  CHECK(back.entries[0].request.headers == har.entries[0].request.headers);
  CHECK(back.entries[0].response.status == 200);
  CHECK(back.entries[0].response.body == har.entries[0].response.body);
  CHECK(back.entries[0].provider == "Contract");
  REQUIRE(back.chat);
  CHECK(back.chat->messages == har.chat->messages);
  CHECK(back.chat->model == "echo");
  REQUIRE(back.answer);
  CHECK(back.answer->text == "caf\xc3\xa9");
  CHECK(back.answer->finished);
  CHECK(write_har(har).find("\"encoding\": \"base64\"") != std::string::npos);
}

TEST_CASE("a HAR file exported by a browser (no _provhost) reads, and replays with a given chat") {
  const std::string browser = R"({"log": {"version": "1.2", "creator": {"name": "Firefox", "version": "120"},
    "entries": [{"startedDateTime": "2024-01-01T00:00:00Z", "time": 12,
      "request": {"method": "POST", "url": "https://example.com/chat?key=1", "httpVersion": "HTTP/2", "headers": [],
                  "cookies": [], "queryString": [], "headersSize": -1, "bodySize": 5,
                  "postData": {"mimeType": "text/plain", "text": "hello"}},
      "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/2", "headers": [], "cookies": [],
                   "content": {"size": 9, "mimeType": "text/plain", "text": "aGkKRU5ECg==", "encoding": "base64"},
                   "redirectURL": "", "headersSize": -1, "bodySize": 9},
      "cache": {}, "timings": {"send": 0, "wait": 12, "receive": 0}}]}})";
  Har har = parse_har(browser);
  REQUIRE(har.entries.size() == 1);
  CHECK(har.entries[0].response.body == "hi\nEND\n");
  CHECK_FALSE(har.chat);
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  CHECK_THROWS_AS(replay_har(plugin, har), std::runtime_error);
  Replay replay = replay_har(plugin, har, chat_of({{"user", "hi"}}, "echo"));
  CHECK(replay.run.outcome.text() == "hi");
  CHECK(replay.run.outcome.finished());
  CHECK(replay.ok());
}

TEST_CASE("a replay that gives the recorded answer has no problem") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Replay replay = replay_har(plugin, recorded("a\nb\nEND\n", HarAnswer{"ab", true, ""}));
  CHECK(replay.ok());
}

TEST_CASE("a replay that finishes where the recording failed is a problem") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Replay replay = replay_har(plugin, recorded("a\nEND\n", HarAnswer{"a", false, "Contract: upstream error: bad"}));
  REQUIRE(replay.problems.size() == 1);
  CHECK(replay.problems[0].rfind("the recording failed", 0) == 0);
}

TEST_CASE("a replay with other text, or more requests than recorded, is a problem") {
  FakeHost host;
  Plugin plugin(&contract_plugin::entry, host);
  Replay other = replay_har(plugin, recorded("a\nEND\n", HarAnswer{"b", true, ""}));
  REQUIRE(other.problems.size() == 1);
  CHECK(other.problems[0] == "the replay's text \"a\" is not the recorded \"b\"");
  Har none = recorded("", HarAnswer{"", true, ""});
  none.entries.clear();
  Replay missing = replay_har(plugin, none);
  CHECK(missing.problems.front() == "request 1 (POST /chat?key=1) has no recorded answer");
  Har elsewhere = recorded("a\nEND\n", HarAnswer{"a", true, ""});
  elsewhere.entries[0].request.url = "http://127.0.0.1:9/other";  // the origin may differ, the path may not
  CHECK(replay_har(plugin, elsewhere).problems.front() == "request 1 (POST /chat?key=1) has no recorded answer");
  Har moved = recorded("a\nEND\n", HarAnswer{"a", true, ""});
  moved.entries[0].request.url = "http://127.0.0.1:9/chat?key=1";
  CHECK(replay_har(plugin, moved).ok());
}

TEST_CASE("recorded answers go to the requests they answered, also when a session skips one") {
  Har har = recorded("first\nEND\n", HarAnswer{});
  HarEntry page = har.entries[0];
  page.request.method = "GET";
  page.request.url = "https://example.com/page";
  page.response.body = "<html>";
  har.entries.insert(har.entries.begin(), page);  // a request this session never asks for
  HarEntry second = har.entries[1];
  second.response.body = "second\nEND\n";
  har.entries.push_back(second);
  Responder responder = recorded_responder(har, "Contract");
  Request chat;
  chat.method = "POST";
  chat.url = "https://elsewhere.example/chat?key=1";
  CHECK(responder(chat, 0)->body == "first\nEND\n");
  CHECK(responder(chat, 1)->body == "second\nEND\n");
  CHECK_FALSE(responder(chat, 2));
  CHECK(responder(chat, 0)->body == "first\nEND\n");  // index 0: a new chat starts over
  CHECK_FALSE(recorded_responder(har, "Other")(chat, 0));
}

TEST_CASE("what is not a HAR file is refused with a reason") {
  CHECK_THROWS_WITH(parse_har("{"), "not a HAR file: the file is not JSON");
  CHECK_THROWS_WITH(parse_har(R"({"log": {"version": "2.0", "entries": []}})"),
                    "not a HAR file: version 2.0 (HAR 1.x is read)");
  CHECK_THROWS_WITH(parse_har(R"({"log": {"version": "1.2", "entries": [{"request": {}}]}})"),
                    "not a HAR file: entry 1.request has no \"method\"");
}
