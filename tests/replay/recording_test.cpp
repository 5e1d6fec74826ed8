// What --record writes: HAR 1.2 that the test kit reads back, secrets masked.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <provhost/core/recording.hpp>
#include <provhost/testing/har.hpp>

#include "support/process.hpp"

using namespace provhost;

namespace {

core::RecordedChat a_chat() {
  core::RecordedChat chat;
  chat.id = 7;
  chat.spec.messages = {{"user", "Hello"}};
  chat.spec.stream = true;
  chat.provider = std::string("Example");
  chat.model = std::string("m");
  auto exchange = std::make_shared<core::RecordedExchange>();
  exchange->provider = std::string("Example");
  exchange->method = std::string("POST");
  exchange->url = std::string("http://127.0.0.1:1/v1/chat?api_key=s3cret&page=2&token=t0k#top");
  exchange->request_headers = {{"Authorization", "Bearer s3cret"}, {"X-Api-Key", "s3cret"}, {"Accept", "*/*"}};
  exchange->request_body = std::string("{}");
  exchange->status = 200;
  exchange->response_headers = {{"Set-Cookie", "sid=s3cret"}, {"Content-Type", "text/plain"}};
  exchange->response_body = std::string("Hi\xff");
  chat.exchanges.push_back(exchange);
  chat.text = std::string("Hi");
  return chat;
}

}  // namespace

TEST_CASE("a recorded chat is HAR the test kit reads back, with its secrets masked") {
  const std::string json = core::recorded_chat_har(a_chat());
  CHECK(json.find("s3cret") == std::string::npos);
  CHECK(json.find("t0k") == std::string::npos);
  const testing::Har har = testing::parse_har(json);
  REQUIRE(har.entries.size() == 1);
  const testing::HarEntry &entry = har.entries[0];
  CHECK(entry.request.url == "http://127.0.0.1:1/v1/chat?api_key=********&page=2&token=********#top");
  CHECK(entry.request.header("authorization") == "********");
  CHECK(entry.request.header("x-api-key") == "********");
  CHECK(entry.request.header("accept") == "*/*");
  CHECK(entry.response.headers[0] == std::make_pair(std::string("Set-Cookie"), std::string("********")));
  CHECK(entry.response.body == "Hi\xff");  // base64 in the file, the bytes back
  CHECK(entry.provider == "Example");
  REQUIRE(har.chat);
  CHECK(har.chat->messages == testing::Pairs{{"user", "Hello"}});
  CHECK(har.chat->model == "m");
  REQUIRE(har.answer);
  CHECK(har.answer->text == "Hi");
  CHECK(har.answer->finished);
}

TEST_CASE("a failed chat records the host's error line") {
  core::RecordedChat chat = a_chat();
  chat.error = core::make_error(core::ErrorKind::upstream, "Example", "overloaded");
  const testing::Har har = testing::parse_har(core::recorded_chat_har(chat));
  REQUIRE(har.answer);
  CHECK_FALSE(har.answer->finished);
  CHECK(har.answer->error == "Example: overloaded");
}

TEST_CASE("secret names") {
  for (const char *name : {"Authorization", "Proxy-Authorization", "Cookie", "set-cookie", "X-API-KEY", "apikey",
                           "access_token", "client_secret", "password", "X-Session-Id", "signature"})
    CHECK(core::secret_name(name));
  for (const char *name : {"Accept", "Content-Type", "User-Agent", "Referer", "page", "model"})
    CHECK_FALSE(core::secret_name(name));
}

TEST_CASE("the folder recorder writes one file per chat") {
  test::TempDir dir;
  auto recorder = core::har_folder_recorder(dir.path());
  core::RecordedChat first = a_chat(), second = a_chat();
  second.id = 8;
  recorder->record(first);
  recorder->record(second);
  size_t files = 0;
  for (const auto &entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    CHECK(entry.path().extension() == ".har");
    CHECK(testing::read_har_file(entry.path().string()).entries.size() == 1);
  }
  CHECK(files == 2);
}
