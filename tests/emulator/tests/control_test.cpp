// Recording, and the control endpoints under /__emulator/ that scripts use instead of the C++ API.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "client.hpp"

using namespace provhost::emulator;
using namespace provhost::emulator::test;

TEST_CASE("every upstream request is recorded with headers in order and original case", "[emulator]") {
  Emulator emulator;
  emulator.start();
  HttpRequest request{
      "POST",
      emulator.origin() + "/api/gpt/?from=test",
      R"({"input":"hi"})",
      {"Content-Type: application/json", "Visitor-ID: abc123", "x-lower-case: kept", "Visitor-ID: twice"}};
  perform(request);
  get(emulator.origin() + "/__emulator/text");  // control requests are not recorded
  const auto requests = emulator.requests();
  REQUIRE(requests.size() == 1);
  const RecordedRequest &recorded = requests[0];
  CHECK(recorded.method == "POST");
  CHECK(recorded.path == "/api/gpt/?from=test");
  CHECK(recorded.body == R"({"input":"hi"})");
  CHECK(recorded.header("visitor-id") == "abc123");
  CHECK(recorded.header("X-LOWER-CASE") == "kept");
  CHECK(recorded.header("Absent").empty());
  std::vector<std::string> names;
  for (const auto &[name, value] : recorded.headers) names.push_back(name);
  auto position = [&](const std::string &name) { return std::find(names.begin(), names.end(), name) - names.begin(); };
  CHECK(position("Content-Type") < position("Visitor-ID"));
  CHECK(position("Visitor-ID") < position("x-lower-case"));
  CHECK(std::count(names.begin(), names.end(), "Visitor-ID") == 2);
  emulator.clear_requests();
  CHECK(emulator.requests().empty());
}

TEST_CASE("the record limit keeps the newest requests", "[emulator]") {
  Emulator emulator;
  emulator.start();
  emulator.set_record_limit(2);
  for (const char *path : {"/a", "/b", "/c"}) get(emulator.origin() + path);
  const auto requests = emulator.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].path == "/b");
  CHECK(requests[1].path == "/c");
}

TEST_CASE("GET /__emulator/requests lists the recorded requests as JSON", "[emulator]") {
  Emulator emulator;
  emulator.start();
  post_json(emulator.origin() + "/v3/chat-anonymous", R"({"question":"Привет"})");
  const HttpResponse listing = get(emulator.origin() + "/__emulator/requests");
  CHECK(listing.status == 200);
  rapidjson::Document json;
  json.Parse(listing.body.c_str());
  REQUIRE(json.IsArray());
  REQUIRE(json.Size() == 1);
  const auto &entry = json[0];
  CHECK(std::string(entry["method"].GetString()) == "POST");
  CHECK(std::string(entry["path"].GetString()) == "/v3/chat-anonymous");
  CHECK(std::string(entry["body"].GetString()) == R"({"question":"Привет"})");
  REQUIRE(entry["headers"].IsArray());
  bool content_type = false;
  for (const auto &header : entry["headers"].GetArray()) {
    REQUIRE(header.Size() == 2);
    if (std::string(header[0].GetString()) == "Content-Type")
      content_type = std::string(header[1].GetString()) == "application/json";
  }
  CHECK(content_type);
  CHECK(perform({"DELETE", emulator.origin() + "/__emulator/requests", "", {}}).status == 200);
  CHECK(get(emulator.origin() + "/__emulator/requests").body == "[]");
}

TEST_CASE("POST /__emulator/fault sets a fault, DELETE clears them", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string url = emulator.origin() + "/__emulator/fault";
  CHECK(post_json(url, R"({"route":"ylokh","fault":"fail_first","k":1})").status == 200);
  CHECK(ask(emulator, "ylokh").code == CURLE_RECV_ERROR);
  CHECK(ask(emulator, "ylokh").status == 200);
  CHECK(post_json(url, R"({"route":"koala","fault":"rate_limit","times":1})").status == 200);
  CHECK(ask(emulator, "koala").status == 429);
  CHECK(ask(emulator, "koala").status == 200);
  CHECK(post_json(url, R"({"route":"flowgpt","fault":"server_error"})").status == 200);
  CHECK(perform({"DELETE", url, "", {}}).status == 200);
  CHECK(ask(emulator, "flowgpt").status == 200);
}

TEST_CASE("a bad fault request gets 400 with the reason", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string url = emulator.origin() + "/__emulator/fault";
  struct Case {
    const char *body, *reason;
  };
  for (auto [body, reason] : {Case{R"({"route":"nope","fault":"reset"})", "unknown route"},
                              Case{R"({"route":"koala","fault":"explode"})", "unknown fault"},
                              Case{R"({"route":"koala","fault":"reset","k":-1})", "non-negative"},
                              Case{R"({"fault":"reset"})", "route is missing"},
                              Case{R"({"route":"koala","fault":"reset","extra":1})", "unknown fault field"},
                              Case{"not json", "not a JSON object"}}) {
    INFO(body);
    const HttpResponse response = post_json(url, body);
    CHECK(response.status == 400);
    CHECK(response.body.find(reason) != std::string::npos);
  }
}

TEST_CASE("POST /__emulator/config changes the given settings only", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string url = emulator.origin() + "/__emulator/config";
  CHECK(post_json(url, R"({"text":"ab","chunks":5,"chunk_size":1})").status == 200);
  CHECK(emulator.expected_text() == "ababa");
  CHECK(get(emulator.origin() + "/__emulator/text").body == "ababa");
  CHECK(post_json(url, R"({"write_size":4096,"chatgptfree_answer":"json"})").status == 200);
  const Config config = emulator.config();
  CHECK(config.text == "ab");
  CHECK(config.chunks == 5);
  CHECK(config.write_size == 4096);
  CHECK(config.chatgptfree_json_answer);
  CHECK(read_chatgptfree(ask(emulator, "chatgptfree").body).text == "ababa");
  CHECK(get(url).body.find(R"("chatgptfree_answer":"json")") != std::string::npos);
}

TEST_CASE("a bad config request gets 400 and changes nothing", "[emulator]") {
  Emulator emulator;
  emulator.start();
  const std::string url = emulator.origin() + "/__emulator/config";
  for (const char *body : {R"({"chunks":-1})", R"({"text":5})", R"({"chatgptfree_answer":"xml"})",
                           R"({"colour":"blue"})", "{\"text\":\"\\udc00\"}"}) {
    INFO(body);
    CHECK(post_json(url, body).status == 400);
  }
  CHECK(emulator.expected_text() == default_text());
}

TEST_CASE("POST /__emulator/reset clears faults, configuration and requests", "[emulator]") {
  Config initial;
  initial.text = "initial";
  Emulator emulator(initial);
  emulator.start();
  emulator.set_fault("koala", "rate_limit");
  emulator.configure(Config{});
  ask(emulator, "koala");
  CHECK(post_json(emulator.origin() + "/__emulator/reset", "").status == 200);
  CHECK(emulator.requests().empty());
  CHECK(emulator.expected_text() == "initial");
  CHECK(ask(emulator, "koala").status == 200);
}

TEST_CASE("GET /__emulator/raw returns the very bytes the route sends", "[emulator]") {
  Emulator emulator;
  emulator.start();
  for (std::string_view route : all_routes) {
    INFO(route);
    const RawExchange from_route = raw_exchange(emulator.port(), raw_request(emulator, route));
    CHECK(from_route.bytes == raw_answer(emulator, route));
  }
  const HttpResponse missing = get(emulator.origin() + "/__emulator/raw?route=nope");
  CHECK(missing.status == 400);
  CHECK(get(emulator.origin() + "/__emulator/raw").status == 400);
  CHECK(get(emulator.origin() + "/__emulator/nonce").body == emulator.current_nonce());
  CHECK(get(emulator.origin() + "/__emulator/nope").status == 404);
  const HttpResponse wrong_method = get(emulator.origin() + "/__emulator/reset");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("Allow") == "POST");
}
