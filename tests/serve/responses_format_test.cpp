// The Responses API as pure functions: requests read into chats, answers written as a response
// object or its event stream (responses.hpp).
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <provhost/serve/responses.hpp>
#include <string>
#include <vector>

using namespace provhost;
using namespace provhost::serve;

namespace {

rapidjson::Document parse(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  INFO(json);
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string str(const rapidjson::Value &v) { return {v.GetString(), v.GetStringLength()}; }

ChatRequest parse_ok(std::string_view body) {
  auto result = parse_responses_request(body);
  if (auto *error = std::get_if<ApiError>(&result)) FAIL("unexpected error: " << error->message);
  return std::get<ChatRequest>(result);
}

ApiError parse_error(std::string_view body) {
  auto result = parse_responses_request(body);
  REQUIRE(std::holds_alternative<ApiError>(result));
  return std::get<ApiError>(result);
}

// (event name, JSON) of each "event: X\ndata: {...}\n\n" in `stream`.
std::vector<std::pair<std::string, rapidjson::Document>> events_of(const std::string &stream) {
  std::vector<std::pair<std::string, rapidjson::Document>> events;
  size_t at = 0;
  while (at < stream.size()) {
    REQUIRE(stream.compare(at, 7, "event: ") == 0);
    size_t name_end = stream.find('\n', at);
    std::string name = stream.substr(at + 7, name_end - at - 7);
    REQUIRE(stream.compare(name_end + 1, 6, "data: ") == 0);
    size_t data_end = stream.find("\n\n", name_end);
    REQUIRE(data_end != std::string::npos);
    events.emplace_back(name, parse(std::string_view(stream).substr(name_end + 7, data_end - name_end - 7)));
    CHECK(str(events.back().second["type"]) == name);
    at = data_end + 2;
  }
  return events;
}

}  // namespace

TEST_CASE("responses: a string input is one user message; instructions come first as a system message") {
  auto request = parse_ok(R"({"model": "Koala/m", "instructions": "Be brief.", "input": "Hi", "stream": true,
                              "max_output_tokens": 9, "temperature": 0.5, "store": false})");
  REQUIRE(request.spec.messages.size() == 2);
  CHECK(request.spec.messages[0].role == "system");
  CHECK(request.spec.messages[0].content == "Be brief.");
  CHECK(request.spec.messages[1].role == "user");
  CHECK(request.spec.messages[1].content == "Hi");
  CHECK(request.spec.model == "Koala/m");
  CHECK(request.spec.stream);
  auto options = parse(request.spec.options_json);
  CHECK(options["max_tokens"].GetInt() == 9);
  CHECK(options["temperature"].GetDouble() == 0.5);
  CHECK(request.unsupported.empty());
}

TEST_CASE("responses: message items with string or text-part content, roles as in chat completions") {
  auto request = parse_ok(R"({"input": [
    {"role": "developer", "content": "Rules"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "one"}, {"type": "input_text", "text": "two"}]},
    {"role": "assistant", "content": [{"type": "output_text", "text": "three"}]}]})");
  REQUIRE(request.spec.messages.size() == 3);
  CHECK(request.spec.messages[0].role == "system");
  CHECK(request.spec.messages[1].content == "one\ntwo");
  CHECK(request.spec.messages[2].role == "assistant");
  CHECK_FALSE(request.spec.stream);
}

TEST_CASE("responses: bad input is a 400 naming the field; stateful and non-text features are unsupported") {
  CHECK(parse_error(R"({"model": "m"})").param == "input");
  CHECK(parse_error(R"({"input": 3})").param == "input");
  CHECK(parse_error(R"({"input": []})").param == "input");
  CHECK(parse_error(R"({"input": [{"type": "function_call_output", "call_id": "c", "output": "x"}]})").param ==
        "input[0].type");
  CHECK(parse_error(R"({"input": [{"role": "tool", "content": "x"}]})").param == "input[0].role");
  CHECK(parse_error(R"({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]})").param ==
        "input[0].content[0].type");
  CHECK(parse_error(R"({"input": "Hi", "max_output_tokens": -1})").param == "max_output_tokens");
  CHECK(parse_error(R"({"input": "Hi", )" + std::string(100'000, '[')).code == "invalid_json");

  auto request = parse_ok(R"({"input": "Hi", "previous_response_id": "resp_1", "tools": [{"type": "web_search"}],
                              "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}})");
  CHECK(request.unsupported == std::vector<std::string>{"tools", "previous_response_id", "text.format"});
  CHECK(parse_ok(R"({"input": "Hi", "text": {"format": {"type": "text"}}, "background": false})").unsupported.empty());
}

TEST_CASE("responses: a whole answer is a response object with the message, usage and status") {
  CompletionIdentity identity = new_identity("gpt-4o-mini", 1700000000);
  identity.provider = "Koala";
  auto format = responses_format();
  auto doc = parse(format->whole(identity, "Hi there", {core::FinishReason::stop, {7, 2}}));
  CHECK(str(doc["id"]).rfind("resp_", 0) == 0);
  CHECK(str(doc["object"]) == "response");
  CHECK(doc["created_at"].GetInt64() == 1700000000);
  CHECK(str(doc["status"]) == "completed");
  CHECK(doc["incomplete_details"].IsNull());
  CHECK(str(doc["model"]) == "gpt-4o-mini");
  CHECK(str(doc["provider"]) == "Koala");
  REQUIRE(doc["output"].Size() == 1);
  const auto &message = doc["output"][0];
  CHECK(str(message["type"]) == "message");
  CHECK(str(message["role"]) == "assistant");
  CHECK(str(message["content"][0]["type"]) == "output_text");
  CHECK(str(message["content"][0]["text"]) == "Hi there");
  CHECK(doc["usage"]["input_tokens"].GetUint64() == 7);
  CHECK(doc["usage"]["output_tokens"].GetUint64() == 2);
  CHECK(doc["usage"]["total_tokens"].GetUint64() == 9);

  auto cut = parse(responses_format()->whole(identity, "Hi", {core::FinishReason::length, {7, 1}}));
  CHECK(str(cut["status"]) == "incomplete");
  CHECK(str(cut["incomplete_details"]["reason"]) == "max_output_tokens");
}

TEST_CASE("responses: a stream is typed events in order, numbered, the deltas adding up to the text") {
  CompletionIdentity identity = new_identity("m", 5);
  auto format = responses_format();
  std::string stream = format->stream_start(identity);
  stream += format->stream_text(identity, "Hel");
  stream += format->stream_text(identity, "lo \"there\"\n");
  stream += format->stream_end(identity, {core::FinishReason::stop, {3, 4}});
  auto events = events_of(stream);
  std::vector<std::string> names;
  std::string deltas;
  for (size_t i = 0; i < events.size(); ++i) {
    names.push_back(events[i].first);
    CHECK(events[i].second["sequence_number"].GetUint64() == i);
    if (events[i].first == "response.output_text.delta") deltas += str(events[i].second["delta"]);
  }
  CHECK(names == std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                          "response.content_part.added", "response.output_text.delta",
                                          "response.output_text.delta", "response.output_text.done",
                                          "response.content_part.done", "response.output_item.done",
                                          "response.completed"});
  CHECK(deltas == "Hello \"there\"\n");
  CHECK(str(events[6].second["text"]) == deltas);
  const auto &completed = events.back().second["response"];
  CHECK(str(completed["status"]) == "completed");
  CHECK(str(completed["output"][0]["content"][0]["text"]) == deltas);
  CHECK(completed["usage"]["output_tokens"].GetUint64() == 4);
  CHECK(str(events[0].second["response"]["id"]) == str(completed["id"]));
  CHECK(events[0].second["response"]["usage"].IsNull());
}

TEST_CASE("responses: an error after the stream began is an error event, then response.failed") {
  CompletionIdentity identity = new_identity("m", 5);
  auto format = responses_format();
  format->stream_start(identity);
  auto events =
      events_of(format->stream_error(identity, {502, "Koala: connection reset", "upstream_error", "", "connection"}));
  REQUIRE(events.size() == 2);
  CHECK(events[0].first == "error");
  CHECK(str(events[0].second["message"]) == "Koala: connection reset");
  CHECK(str(events[0].second["code"]) == "connection");
  CHECK(events[1].first == "response.failed");
  CHECK(str(events[1].second["response"]["status"]) == "failed");
  CHECK(str(events[1].second["response"]["error"]["message"]) == "Koala: connection reset");
}
