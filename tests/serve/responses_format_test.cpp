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
  CHECK(parse_error(R"({"input": [{"type": "reasoning", "id": "r", "summary": []}]})").param == "input[0].type");
  CHECK(parse_error(R"({"input": [{"type": "item_reference", "id": "msg_1"}]})").param == "input[0].type");
  CHECK(parse_error(R"({"input": [{"type": "function_call_output", "output": "x"}]})").param == "input[0].call_id");
  CHECK(parse_error(R"({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]})").param ==
        "input[0].arguments");
  CHECK(parse_error(R"({"input": [{"role": "tool", "content": "x"}]})").param == "input[0].role");
  CHECK(parse_error(R"({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "u"}]}]})").param ==
        "input[0].content[0].type");
  CHECK(parse_error(R"({"input": "Hi", "max_output_tokens": -1})").param == "max_output_tokens");
  CHECK(parse_error(R"({"input": "Hi", )" + std::string(100'000, '[')).code == "invalid_json");

  auto request = parse_ok(R"({"input": "Hi", "previous_response_id": "resp_1", "tools": [{"type": "web_search"}],
                              "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}})");
  CHECK(request.unsupported == std::vector<std::string>{"tools", "previous_response_id"});  // web_search: hosted
  REQUIRE(request.gated.size() == 1);
  CHECK(request.gated[0].name == "text.format");
  CHECK(request.gated[0].capability == "param:response_format");
  CHECK(parse_ok(R"({"input": "Hi", "text": {"format": {"type": "grammar"}}})").unsupported ==
        std::vector<std::string>{"text.format"});
  CHECK(parse_ok(R"({"input": "Hi", "text": {"format": {"type": "text"}}, "background": false})").unsupported.empty());
}

TEST_CASE("responses: a whole answer is a response object with the message, usage and status") {
  CompletionIdentity identity = new_identity("gpt-4o-mini", 1700000000);
  identity.provider = "Koala";
  auto format = responses_format();
  auto doc = parse(format->whole(identity, "Hi there", {}, {core::FinishReason::stop, {7, 2}}));
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

  auto cut = parse(responses_format()->whole(identity, "Hi", {}, {core::FinishReason::length, {7, 1}}));
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

namespace {

std::vector<std::string> names_of(const std::vector<std::pair<std::string, rapidjson::Document>> &events) {
  std::vector<std::string> names;
  for (const auto &[name, doc] : events) names.push_back(name);
  return names;
}

// The passthrough a provider declaring every capability gets for `body`.
std::string routed_passthrough(std::string_view body) {
  ChatRequest request = parse_ok(body);
  core::ResolveResult candidates;
  auto provider = std::make_shared<core::LoadedProvider>();
  provider->meta.name = "Both";
  provider->meta.capabilities = {"param:tools", "param:response_format"};
  candidates.candidates.push_back({provider, "m"});
  REQUIRE_FALSE(route_gated_parameters(request, candidates));
  CHECK(request.unsupported.empty());
  return request.spec.passthrough_json;
}

}  // namespace

TEST_CASE("responses: flat function tools, function calls and their outputs become chat completions' shape") {
  const std::string body =
      R"({"model": "m", "instructions": "Be brief.", "tool_choice": {"type": "function", "name": "weather"},
    "tools": [{"type": "function", "name": "weather", "description": "Today's", "parameters": {"type": "object"}, "strict": true}],
    "input": [{"role": "user", "content": "Weather?"},
              {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": "{}", "id": "fc_1"},
              {"type": "function_call", "call_id": "call_2", "name": "weather", "arguments": "{\"x\":1}"},
              {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
              {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "warm"}]}]})";
  ChatRequest request = parse_ok(body);
  REQUIRE(request.gated.size() == 2);
  CHECK(request.gated[0].name == "tools");
  CHECK(request.gated[1].name == "input[1].type");
  CHECK_FALSE(request.gated[1].droppable);
  // The engine's messages: the calls are one assistant turn, each output a tool message.
  REQUIRE(request.spec.messages.size() == 5);
  CHECK(request.spec.messages[2].role == "assistant");
  CHECK(request.spec.messages[3].role == "tool");
  CHECK(request.spec.messages[4].content == "warm");
  CHECK(
      routed_passthrough(body) ==
      R"({"tools":[{"type":"function","function":{"name":"weather","description":"Today's","parameters":{"type":"object"},)"
      R"("strict":true}}],"tool_choice":{"type":"function","function":{"name":"weather"}},"messages":[)"
      R"({"role":"system","content":"Be brief."},{"role":"user","content":"Weather?"},{"role":"assistant","content":null,)"
      R"("tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{}"}},)"
      R"({"id":"call_2","type":"function","function":{"name":"weather","arguments":"{\"x\":1}"}}]},)"
      R"({"role":"tool","content":"sunny","tool_call_id":"call_1"},{"role":"tool","content":"warm","tool_call_id":"call_2"}]})");

  CHECK(
      routed_passthrough(
          R"({"input": "Hi", "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}}})") ==
      R"({"response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"},"strict":true}}})");
  CHECK(routed_passthrough(R"({"input": "Hi", "text": {"format": {"type": "json_object"}}})") ==
        R"({"response_format":{"type":"json_object"}})");
  CHECK(
      parse_ok(
          R"({"input": "Hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "allowed_tools"}})")
          .unsupported == std::vector<std::string>{"tool_choice"});
  CHECK(parse_error(R"({"input": "Hi", "tools": [{"type": "function"}]})").param == "tools[0].name");
}

TEST_CASE("responses: a streamed tool call is a function_call item: added, argument deltas, done") {
  CompletionIdentity identity = new_identity("m", 5);
  auto format = responses_format();
  std::string stream = format->stream_start(identity);
  stream += format->stream_tool_call(identity, {0, "call_1", "weather", ""});
  stream += format->stream_tool_call(identity, {0, "", "", R"({"city":)"});
  stream += format->stream_tool_call(identity, {0, "", "", R"("Oslo"})"});
  stream += format->stream_end(identity, {core::FinishReason::tool_calls, {3, 2}});
  auto events = events_of(stream);
  CHECK(names_of(events) ==
        std::vector<std::string>{"response.created", "response.in_progress", "response.output_item.added",
                                 "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                                 "response.function_call_arguments.done", "response.output_item.done",
                                 "response.completed"});
  const auto &added = events[2].second["item"];
  CHECK(str(added["type"]) == "function_call");
  CHECK(str(added["status"]) == "in_progress");
  CHECK(str(added["call_id"]) == "call_1");
  CHECK(str(added["name"]) == "weather");
  CHECK(str(added["arguments"]).empty());
  const std::string item_id = str(added["id"]);
  CHECK(item_id.rfind("fc_", 0) == 0);
  CHECK(str(events[3].second["item_id"]) == item_id);
  CHECK(events[3].second["output_index"].GetUint() == 0);
  CHECK(str(events[3].second["delta"]) == R"({"city":)");
  CHECK(str(events[5].second["arguments"]) == R"({"city":"Oslo"})");
  CHECK(str(events[6].second["item"]["status"]) == "completed");
  CHECK(str(events[6].second["item"]["arguments"]) == R"({"city":"Oslo"})");
  const auto &output = events.back().second["response"]["output"];
  REQUIRE(output.Size() == 1);  // no message: the turn only called a tool
  CHECK(str(output[0]["id"]) == item_id);
  CHECK(str(output[0]["call_id"]) == "call_1");
}

TEST_CASE("responses: text then a tool call: the message item ends before the call's begins") {
  CompletionIdentity identity = new_identity("m", 5);
  auto format = responses_format();
  std::string stream = format->stream_start(identity);
  stream += format->stream_text(identity, "Looking.");
  stream += format->stream_tool_call(identity, {0, "call_1", "weather", "{}"});
  stream += format->stream_end(identity, {core::FinishReason::tool_calls, {3, 2}});
  auto events = events_of(stream);
  CHECK(names_of(events) ==
        std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.output_item.added", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done", "response.completed"});
  CHECK(events[8].second["output_index"].GetUint() == 1);
  const auto &output = events.back().second["response"]["output"];
  REQUIRE(output.Size() == 2);
  CHECK(str(output[0]["content"][0]["text"]) == "Looking.");
  CHECK(str(output[1]["arguments"]) == "{}");
}

TEST_CASE("responses: a whole answer lists the message when there is text, then the function calls") {
  CompletionIdentity identity = new_identity("m", 5);
  std::vector<ToolCall> calls = {{0, "call_1", "weather", "{}"}};
  auto only_calls = parse(responses_format()->whole(identity, "", calls, {core::FinishReason::tool_calls, {3, 2}}));
  REQUIRE(only_calls["output"].Size() == 1);
  CHECK(str(only_calls["output"][0]["type"]) == "function_call");
  CHECK(str(only_calls["output"][0]["status"]) == "completed");
  CHECK(str(only_calls["output"][0]["call_id"]) == "call_1");
  CHECK(str(only_calls["output"][0]["arguments"]) == "{}");
  auto both = parse(responses_format()->whole(identity, "Looking.", calls, {core::FinishReason::tool_calls, {3, 2}}));
  REQUIRE(both["output"].Size() == 2);
  CHECK(str(both["output"][0]["type"]) == "message");
  CHECK(str(both["output"][1]["type"]) == "function_call");
}
