// The OpenAI wire format of `serve`: request validation, completions, stream chunks, model lists
// and errors, checked by parsing what the functions write.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <provhost/serve/answer_format.hpp>
#include <provhost/serve/openai.hpp>
#include <provhost/serve/responses.hpp>
#include <variant>

using namespace provhost;
using namespace provhost::serve;

namespace {

rapidjson::Document parse(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string str(const rapidjson::Value &v) { return {v.GetString(), v.GetStringLength()}; }

core::ChatSpec parse_ok(std::string_view body) {
  auto result = parse_chat_request(body);
  if (auto *error = std::get_if<ApiError>(&result)) FAIL("unexpected error: " << error->message);
  return std::get<ChatRequest>(result).spec;
}

ApiError parse_error(std::string_view body) {
  auto result = parse_chat_request(body);
  REQUIRE(std::holds_alternative<ApiError>(result));
  return std::get<ApiError>(result);
}

// The JSON of a "data: {...}\n\n" event.
rapidjson::Document event_json(const std::string &event) {
  REQUIRE(event.rfind("data: ", 0) == 0);
  REQUIRE(event.size() > 8);
  REQUIRE(event.substr(event.size() - 2) == "\n\n");
  return parse(std::string_view(event).substr(6, event.size() - 8));
}

core::LoadedProvider provider(std::string name, std::vector<std::string> models, std::string default_model = "") {
  core::LoadedProvider p;
  p.meta.name = std::move(name);
  p.meta.models = std::move(models);
  p.meta.default_model = std::move(default_model);
  p.meta.working = true;
  return p;
}

}  // namespace

TEST_CASE("a chat request becomes a spec with its messages, provider and options") {
  auto spec = parse_ok(R"({
    "model": "Koala/gpt-4o-mini", "provider": "Koala", "stream": true,
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \u00e9"}],
    "temperature": 0.5, "top_p": 1, "max_tokens": 64, "stop": ["\n"],
    "n": 1, "user": "u", "seed": 3, "stream_options": {"include_usage": true}})");
  CHECK(spec.model == "Koala/gpt-4o-mini");
  CHECK(spec.provider == "Koala");
  CHECK(spec.stream);
  REQUIRE(spec.messages.size() == 2);
  CHECK(spec.messages[0].role == "system");
  CHECK(spec.messages[0].content == "Be brief.");
  CHECK(spec.messages[1].content == "Hi \xc3\xa9");
  auto options = parse(spec.options_json);
  CHECK(options["temperature"].GetDouble() == 0.5);
  CHECK(options["top_p"].GetInt() == 1);
  CHECK(options["max_tokens"].GetInt() == 64);
  CHECK(str(options["stop"][0]) == "\n");
  CHECK_FALSE(options.HasMember("n"));
  CHECK_FALSE(options.HasMember("user"));
}

TEST_CASE("a minimal chat request does not stream and passes no options") {
  auto spec = parse_ok(R"({"model": "gpt-4", "messages": [{"role": "user", "content": "Hi"}]})");
  CHECK_FALSE(spec.stream);
  CHECK(spec.provider.empty());
  CHECK(spec.options_json == "{}");
}

TEST_CASE("null optional fields count as absent") {
  auto spec = parse_ok(
      R"({"model": null, "provider": null, "stream": null, "temperature": null, "max_tokens": null, "stop": null,
          "messages": [{"role": "user", "content": "Hi"}]})");
  CHECK(spec.model.empty());
  CHECK_FALSE(spec.stream);
  CHECK(spec.options_json == "{}");
}

TEST_CASE(
    "content given as text parts is joined by newlines; developer is a system message; max_completion_tokens counts") {
  auto spec = parse_ok(R"({"model": "m", "max_completion_tokens": 9, "messages": [
    {"role": "developer", "content": "Rules"},
    {"role": "user", "content": [{"type": "text", "text": "one "}, {"type": "text", "text": "two"}]},
    {"role": "assistant", "content": null}]})");
  REQUIRE(spec.messages.size() == 3);
  CHECK(spec.messages[0].role == "system");
  CHECK(spec.messages[1].content == "one \ntwo");
  CHECK(spec.messages[2].content.empty());
  CHECK(parse(spec.options_json)["max_tokens"].GetInt() == 9);
}

TEST_CASE("malformed JSON is a 400 naming the parse error") {
  auto error = parse_error(R"({"model": "m", "messages": [)");
  CHECK(error.status == 400);
  CHECK(error.type == "invalid_request_error");
  CHECK(error.code == "invalid_json");
  CHECK_THAT(error.message, Catch::Contains("not valid JSON"));
}

TEST_CASE("invalid UTF-8 in the body is malformed") {
  CHECK(parse_error("{\"model\": \"\xff\", \"messages\": []}").code == "invalid_json");
  // RapidJSON's own message and offset, whichever part of the body the bad byte is in.
  auto in_string = parse_error("{\"model\": \"ab\xc3\", \"messages\": []}");
  CHECK_THAT(in_string.message, Catch::Contains("Invalid encoding in string") && Catch::Contains("at byte 13"));
  auto in_key = parse_error("{\"mod\xe2\x82\": \"m\", \"messages\": []}");
  CHECK_THAT(in_key.message, Catch::Contains("Invalid encoding in string"));
  auto outside = parse_error("{\"model\": \xf0\x9f\x98\x80}");
  CHECK(outside.code == "invalid_json");
  CHECK_THAT(outside.message, Catch::Contains("Invalid value"));
}

TEST_CASE("text in every script and escapes decode the same whether or not the body is checked byte by byte") {
  // A body that is UTF-8 as a whole skips RapidJSON's per-byte check; its strings must come out as
  // the checked parse gives them.
  auto request = std::get<ChatRequest>(
      parse_chat_request("{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": "
                         "\"\xd0\x9f\xd1\x80\xd0\xb8 \xe4\xbd\xa0 \xf0\x9f\xa6\x8a \\u00e9\\ud83d\\ude80\\n\"}]}"));
  REQUIRE(request.spec.messages.size() == 1);
  CHECK(request.spec.messages[0].content ==
        "\xd0\x9f\xd1\x80\xd0\xb8 \xe4\xbd\xa0 \xf0\x9f\xa6\x8a \xc3\xa9\xf0\x9f\x9a\x80\n");
}

TEST_CASE("a body that is not an object is a 400") { CHECK(parse_error("[1, 2]").status == 400); }

TEST_CASE("a missing messages field is a 400 naming the parameter") {
  auto error = parse_error(R"({"model": "gpt-4"})");
  CHECK(error.status == 400);
  CHECK(error.param == "messages");
  CHECK(error.code == "missing_required_parameter");
}

TEST_CASE("fields of the wrong type are 400s naming the parameter") {
  struct Case {
    const char *body;
    const char *param;
  };
  auto c = GENERATE(values<Case>({
      {R"({"model": 4, "messages": [{"role": "user", "content": "x"}]})", "model"},
      {R"({"provider": [], "messages": [{"role": "user", "content": "x"}]})", "provider"},
      {R"({"messages": "hello"})", "messages"},
      {R"({"messages": [3]})", "messages[0]"},
      {R"({"messages": [{"role": 1, "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": 12}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_p": true})", "top_p"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": -1})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})", "stop"},
  }));
  INFO(c.body);
  auto error = parse_error(c.body);
  CHECK(error.status == 400);
  CHECK(error.param == c.param);
}

TEST_CASE("empty messages, unknown roles, missing content and non-text parts are 400s") {
  CHECK(parse_error(R"({"messages": []})").param == "messages");
  CHECK(parse_error(R"({"messages": [{"role": "critic", "content": "x"}]})").param == "messages[0].role");
  CHECK(parse_error(R"({"messages": [{"content": "x"}]})").param == "messages[0].role");
  CHECK(parse_error(R"({"messages": [{"role": "user"}]})").param == "messages[0].content");
  CHECK(parse_error(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})").param ==
        "messages[0].content[0].type");
}

TEST_CASE("chat failures map to OpenAI statuses and types") {
  using core::ErrorKind;
  struct Case {
    ErrorKind kind;
    int status;
    const char *type;
  };
  auto c = GENERATE(values<Case>({
      {ErrorKind::unknown_provider, 404, "invalid_request_error"},
      {ErrorKind::model_not_found, 404, "invalid_request_error"},
      {ErrorKind::bad_request, 400, "invalid_request_error"},
      {ErrorKind::rate_limited, 429, "rate_limit_error"},
      {ErrorKind::auth, 502, "upstream_error"},
      {ErrorKind::blocked, 502, "upstream_error"},
      {ErrorKind::http_status, 502, "upstream_error"},
      {ErrorKind::bad_gateway, 502, "upstream_error"},
      {ErrorKind::connection, 502, "upstream_error"},
      {ErrorKind::truncated, 502, "upstream_error"},
      {ErrorKind::protocol, 502, "upstream_error"},
      {ErrorKind::upstream, 502, "upstream_error"},
      {ErrorKind::gateway_timeout, 504, "upstream_error"},
      {ErrorKind::timeout, 504, "upstream_error"},
      {ErrorKind::stalled, 504, "upstream_error"},
      {ErrorKind::plugin, 500, "server_error"},
  }));
  core::ChatError error;
  error.kind = c.kind;
  error.provider = "Koala";
  error.detail = "something happened";
  auto api = api_error(error);
  CHECK(api.status == c.status);
  CHECK(api.type == c.type);
  CHECK(api.message == "Koala: something happened");
}

TEST_CASE("an error has OpenAI's shape, with null for an absent param and code") {
  auto doc = parse(error_json({429, "slow down", "rate_limit_error", "", "rate_limit_exceeded"}));
  REQUIRE(doc.IsObject());
  const auto &error = doc["error"];
  CHECK(str(error["message"]) == "slow down");
  CHECK(str(error["type"]) == "rate_limit_error");
  CHECK(error["param"].IsNull());
  CHECK(str(error["code"]) == "rate_limit_exceeded");
}

TEST_CASE("a completion is a chat.completion with one assistant message") {
  CompletionIdentity identity = new_identity("gpt-4", 1700000000);
  identity.provider = "FreeNetfly";
  auto doc =
      parse(completion_json(identity, "Hi \"there\"\n\xf0\x9f\x98\x80", {}, {core::FinishReason::stop, {12, 4}}));
  CHECK(str(doc["id"]) == identity.id);
  CHECK(str(doc["object"]) == "chat.completion");
  CHECK(doc["created"].GetInt64() == 1700000000);
  CHECK(str(doc["model"]) == "gpt-4");
  CHECK(str(doc["provider"]) == "FreeNetfly");
  REQUIRE(doc["choices"].Size() == 1);
  const auto &choice = doc["choices"][0];
  CHECK(choice["index"].IsInt());
  CHECK(choice["index"].GetInt() == 0);
  CHECK(str(choice["message"]["role"]) == "assistant");
  CHECK(str(choice["message"]["content"]) == "Hi \"there\"\n\xf0\x9f\x98\x80");
  CHECK(str(choice["finish_reason"]) == "stop");
  CHECK(doc["usage"]["prompt_tokens"].GetUint64() == 12);
  CHECK(doc["usage"]["completion_tokens"].GetUint64() == 4);
  CHECK(doc["usage"]["total_tokens"].GetUint64() == 16);
  CHECK(str(parse(completion_json(identity, "Hi", {},
                                  {core::FinishReason::length, {}}))["choices"][0]["finish_reason"]) == "length");
}

TEST_CASE("stream_options.include_usage asks for a last chunk with the usage, and only with stream") {
  auto with = parse_chat_request(
      R"({"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Hi"}]})");
  REQUIRE(std::holds_alternative<ChatRequest>(with));
  CHECK(std::get<ChatRequest>(with).include_usage);
  auto without =
      parse_chat_request(R"({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Hi"}]})");
  CHECK_FALSE(std::get<ChatRequest>(without).include_usage);

  CHECK(
      parse_error(
          R"({"model": "m", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "Hi"}]})")
          .param == "stream_options");
  CHECK(
      parse_error(
          R"({"model": "m", "stream": true, "stream_options": {"include_usage": 1}, "messages": [{"role": "user", "content": "Hi"}]})")
          .param == "stream_options.include_usage");

  auto usage = event_json(usage_event(new_identity("m", 7), {3, 5}));
  CHECK(str(usage["object"]) == "chat.completion.chunk");
  CHECK(usage["choices"].Empty());
  CHECK(usage["usage"]["total_tokens"].GetUint64() == 8);
}

TEST_CASE("parameters no provider delivers are listed as unsupported; harmless values of them are not") {
  auto unsupported = [](const std::string &fields) {
    auto result =
        parse_chat_request(R"({"model": "m", "messages": [{"role": "user", "content": "Hi"}], )" + fields + "}");
    if (auto *error = std::get_if<ApiError>(&result)) FAIL("unexpected error: " << error->message);
    return std::get<ChatRequest>(result).unsupported;
  };
  using Names = std::vector<std::string>;
  CHECK(unsupported(R"("n": 1, "logprobs": false, "top_logprobs": 0, "response_format": {"type": "text"},)"
                    R"( "tools": [], "tool_choice": "none", "modalities": ["text"], "seed": 7, "user": "u")")
            .empty());
  CHECK(unsupported(R"("n": 2)") == Names{"n"});
  CHECK(unsupported(R"("logprobs": true, "top_logprobs": 3)") == Names{"logprobs", "top_logprobs"});
  // A response format no provider here could honour, and a tool choice without tools.
  CHECK(unsupported(R"("response_format": {"type": "xml"})") == Names{"response_format"});
  CHECK(unsupported(R"("tool_choice": "required")") == Names{"tool_choice"});
  CHECK(unsupported(R"("functions": [{"name": "f"}])") == Names{"functions"});
  CHECK(unsupported(R"("audio": {"voice": "alloy"}, "modalities": ["text", "audio"])") == Names{"audio", "modalities"});

  auto error = unsupported_parameter_error({"tools", "n"});
  CHECK(error.status == 400);
  CHECK(error.param == "tools");
  CHECK(error.code == "unsupported_parameter");
  CHECK_THAT(error.message, Catch::StartsWith("Unsupported parameter: 'tools'"));

  CHECK(parse_error(R"({"model": "m", "n": 0, "messages": [{"role": "user", "content": "Hi"}]})").param == "n");
  CHECK(parse_error(R"({"model": "m", "response_format": "json", "messages": [{"role": "user", "content": "Hi"}]})")
            .param == "response_format");
}

TEST_CASE("completion ids are unique and look like OpenAI's") {
  auto a = new_identity("m", 1), b = new_identity("m", 1);
  CHECK(a.id.rfind("chatcmpl-", 0) == 0);
  CHECK(a.id.size() > 20);
  CHECK(a.id != b.id);
}

TEST_CASE("stream chunks share the id, carry the role first and finish_reason only at the end") {
  CompletionIdentity identity = new_identity("gpt-4", 42);
  std::vector<std::string> events = {role_event(identity), text_event(identity, "data: [DONE]\n\n"),
                                     finish_event(identity, core::FinishReason::stop)};
  int finishes = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto doc = event_json(events[i]);
    CHECK(str(doc["id"]) == identity.id);
    CHECK(str(doc["object"]) == "chat.completion.chunk");
    CHECK(doc["created"].GetInt64() == 42);
    REQUIRE(doc["choices"].Size() == 1);
    const auto &choice = doc["choices"][0];
    CHECK(choice["index"].IsInt());
    if (!choice["finish_reason"].IsNull()) {
      ++finishes;
      CHECK(i == events.size() - 1);
      CHECK(str(choice["finish_reason"]) == "stop");
      CHECK(choice["delta"].ObjectEmpty());
    }
  }
  CHECK(finishes == 1);
  CHECK(str(event_json(events[0])["choices"][0]["delta"]["role"]) == "assistant");
  CHECK(str(event_json(events[1])["choices"][0]["delta"]["content"]) == "data: [DONE]\n\n");
  CHECK_FALSE(event_json(events[1])["choices"][0]["delta"].HasMember("role"));
}

TEST_CASE("an error inside a stream is a data event with an error object") {
  auto doc = event_json(error_event({502, "Koala: connection reset", "upstream_error", "", "connection"}));
  CHECK(str(doc["error"]["message"]) == "Koala: connection reset");
  CHECK(str(doc["error"]["code"]) == "connection");
  CHECK(done_event == "data: [DONE]\n\n");
}

TEST_CASE("the model list names each model once, then every Provider/model") {
  std::vector<std::unique_ptr<core::LoadedProvider>> providers;
  providers.push_back(std::make_unique<core::LoadedProvider>(provider("Koala", {}, "gpt-4o-mini")));
  providers.push_back(std::make_unique<core::LoadedProvider>(provider("Ylokh", {"gpt-3.5-turbo", "gpt-4"})));
  providers.push_back(std::make_unique<core::LoadedProvider>(provider("FreeNetfly", {"gpt-3.5-turbo"})));
  auto doc = parse(models_json(core::model_catalogue(providers), 1234));
  CHECK(str(doc["object"]) == "list");
  std::vector<std::pair<std::string, std::string>> ids;
  for (const auto &model : doc["data"].GetArray()) {
    CHECK(str(model["object"]) == "model");
    CHECK(model["created"].GetInt64() == 1234);
    ids.emplace_back(str(model["id"]), str(model["owned_by"]));
  }
  std::vector<std::pair<std::string, std::string>> expected = {
      {"gpt-4o-mini", "Koala"},
      {"gpt-3.5-turbo", "Ylokh"},
      {"gpt-4", "Ylokh"},
      {"Koala/gpt-4o-mini", "Koala"},
      {"Ylokh/gpt-3.5-turbo", "Ylokh"},
      {"Ylokh/gpt-4", "Ylokh"},
      {"FreeNetfly/gpt-3.5-turbo", "FreeNetfly"},
  };
  CHECK(ids == expected);
}

TEST_CASE("bytes after the JSON value are a 400, a NUL byte and what follows it included") {
  const std::string body = R"({"messages": [{"role": "user", "content": "Hi"}]})";
  auto trailing = parse_error(body + std::string("\0garbage", 8));
  CHECK(trailing.status == 400);
  CHECK(trailing.code == "invalid_json");
  CHECK_THAT(trailing.message, Catch::Contains("after the value (at byte " + std::to_string(body.size()) + ")"));
  CHECK(parse_error(body + " {}").code == "invalid_json");
  CHECK(parse_ok(body + " \r\n\t").messages.size() == 1);
}

TEST_CASE("a key given twice in one object is a 400 naming it, at any depth") {
  auto top = parse_error(R"({"model": "a", "messages": [{"role": "user", "content": "Hi"}], "model": "b"})");
  CHECK(top.status == 400);
  CHECK(top.code == "duplicate_key");
  CHECK(top.param == "model");
  auto nested = parse_error(R"({"messages": [{"role": "user", "content": "Hi", "role": "system"}]})");
  CHECK(nested.code == "duplicate_key");
  CHECK(nested.param == "role");
  auto deep =
      parse_error(R"({"messages": [{"role": "user", "content": "Hi"}], "x": [[{"k": 1, "j": {"q": 1, "q": 2}}]]})");
  CHECK(deep.param == "q");
  CHECK(parse_ok(R"({"messages": [{"role": "user", "content": "Hi"}], "a": {"role": 1}, "b": [{"role": 2}]})")
            .messages.size() == 1);
}

namespace {

ChatRequest parse_request(std::string_view body) {
  auto result = parse_chat_request(body);
  if (auto *error = std::get_if<ApiError>(&result)) FAIL("unexpected error: " << error->message);
  return std::get<ChatRequest>(result);
}

// Providers a request could go to, each declaring `capabilities`.
core::ResolveResult candidates(const std::vector<std::pair<std::string, std::vector<std::string>>> &providers) {
  core::ResolveResult result;
  for (const auto &[name, capabilities] : providers) {
    auto provider = std::make_shared<core::LoadedProvider>();
    provider->meta.name = name;
    provider->meta.capabilities = capabilities;
    result.candidates.push_back({provider, "m"});
  }
  return result;
}

const std::string tools_body =
    R"({"model": "m", "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],)"
    R"( "tool_choice": "required", "parallel_tool_calls": false,)"
    R"( "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {}}},)"
    R"( "messages": [{"role": "user", "content": "Weather?"},)"
    R"( {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},)"
    R"( {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]})";

const std::string tools_json =
    R"({"tools":[{"type":"function","function":{"name":"weather","parameters":{"type":"object"}}}],"tool_choice":"required",)"
    R"("parallel_tool_calls":false,"messages":[{"role":"user","content":"Weather?"},{"role":"assistant","content":null,)"
    R"("tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{}"}}]},)"
    R"({"role":"tool","tool_call_id":"call_1","content":"sunny"}])";
const std::string format_json = R"("response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{}}})";

}  // namespace

TEST_CASE("tools, response formats and tool messages are gated on the capabilities that honour them") {
  ChatRequest request = parse_request(tools_body);
  REQUIRE(request.gated.size() == 3);
  CHECK(request.gated[0].name == "tools");
  CHECK(request.gated[0].capability == "param:tools");
  CHECK(request.gated[1].name == "response_format");
  CHECK(request.gated[1].capability == "param:response_format");
  CHECK(request.gated[2].name == "messages[1].tool_calls");  // the first message only tools providers take
  CHECK_FALSE(request.gated[2].droppable);
  CHECK(request.unsupported.empty());
  // The engine's messages: the tool call's turn and the tool's answer are there, for the estimate.
  REQUIRE(request.spec.messages.size() == 3);
  CHECK(request.spec.messages[1].role == "assistant");
  CHECK(request.spec.messages[1].content.empty());
  CHECK(request.spec.messages[2].role == "tool");
  CHECK(request.spec.messages[2].content == "sunny");

  SECTION("candidates that honour both: only they are tried, and get every field verbatim") {
    CHECK_FALSE(route_gated_parameters(
        request,
        candidates({{"Text", {}}, {"Tools", {"param:tools"}}, {"Both", {"param:tools", "param:response_format"}}})));
    CHECK(request.spec.required_capabilities == std::vector<std::string>{"param:tools", "param:response_format"});
    CHECK(request.spec.passthrough_json == tools_json + "," + format_json + "}");
    CHECK(request.unsupported.empty());
  }
  SECTION("candidates that honour tools only: response_format is unsupported, the rest goes") {
    CHECK_FALSE(route_gated_parameters(request, candidates({{"Tools", {"param:tools"}}, {"Text", {}}})));
    CHECK(request.spec.required_capabilities == std::vector<std::string>{"param:tools"});
    CHECK(request.spec.passthrough_json == tools_json + "}");
    CHECK(request.unsupported == std::vector<std::string>{"response_format"});
  }
  SECTION("no candidate honours tools: tools unsupported, and the tool message a 400 of its own") {
    auto refused = route_gated_parameters(request, candidates({{"Koala", {}}, {"Ylokh", {"param:response_format"}}}));
    CHECK(request.unsupported == std::vector<std::string>{"tools"});
    REQUIRE(refused);
    CHECK(refused->status == 400);
    CHECK(refused->param == "messages[1].tool_calls");
    CHECK(refused->code == "unsupported_parameter");
    // response_format, honoured by Ylokh alone, left the request only Ylokh.
    CHECK(refused->message ==
          "'messages[1].tool_calls' needs a provider that honours tools, and no provider this request could go to "
          "(Ylokh) declares \"param:tools\".");
    CHECK(request.spec.required_capabilities == std::vector<std::string>{"param:response_format"});
    CHECK(request.spec.passthrough_json == "{" + format_json + "}");
  }
  SECTION("an unknown model decides nothing: everything is required, and the engine says why") {
    core::ResolveResult failed;
    failed.kind = core::ResolveResult::Kind::model_not_found;
    failed.error = "model not found";
    CHECK_FALSE(route_gated_parameters(request, failed));
    CHECK(request.spec.required_capabilities == std::vector<std::string>{"param:tools", "param:response_format"});
    CHECK(request.unsupported.empty());
  }
}

TEST_CASE("keep_declaring keeps the candidates declaring every capability, in order, or says which is missing") {
  auto kept = core::keep_declaring(candidates({{"A", {"param:tools"}}, {"B", {}}, {"C", {"param:tools", "x"}}}),
                                   {"param:tools", "x"});
  REQUIRE(kept.candidates.size() == 1);
  CHECK(kept.candidates[0].provider->meta.name == "C");
  auto none = core::keep_declaring(candidates({{"A", {"param:tools"}}}), {"param:tools", "x"});
  CHECK(none.candidates.empty());
  CHECK(none.kind == core::ResolveResult::Kind::lacks_capability);
  CHECK(none.error == "no provider this request could go to (A) declares \"x\"");
  CHECK(core::keep_declaring(candidates({{"A", {}}}), {}).candidates.size() == 1);
}

TEST_CASE("tool messages and assistant tool calls are read, with a 400 naming what is wrong") {
  auto body = [](const std::string &message) {
    return R"({"model": "m", "messages": [{"role": "user", "content": "Hi"}, )" + message + "]}";
  };
  CHECK(parse_error(body(R"({"role": "tool", "content": "x"})")).param == "messages[1].tool_call_id");
  CHECK(parse_error(body(R"({"role": "tool", "tool_call_id": 3, "content": "x"})")).param ==
        "messages[1].tool_call_id");
  CHECK(parse_error(body(R"({"role": "tool", "tool_call_id": "c"})")).param == "messages[1].content");
  CHECK(parse_error(body(R"({"role": "assistant", "content": null, "tool_calls": {}})")).param ==
        "messages[1].tool_calls");
  CHECK(parse_error(body(R"({"role": "function", "name": "f", "content": "x"})")).param == "messages[1].role");
  // Text parts of a tool's answer are joined as any content is.
  ChatRequest parts = parse_request(body(
      R"({"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})"));
  CHECK(parts.spec.messages[1].content == "a\nb");
  REQUIRE(parts.gated.size() == 1);
  CHECK(parts.gated[0].name == "messages[1].role");
  // An assistant's empty tool_calls asks for nothing.
  CHECK(parse_request(body(R"({"role": "assistant", "content": "ok", "tool_calls": []})")).gated.empty());
  CHECK(parse_error(R"({"model": "m", "tools": {}, "messages": [{"role": "user", "content": "Hi"}]})").param ==
        "tools");
  CHECK(parse_error(R"({"model": "m", "tools": [3], "messages": [{"role": "user", "content": "Hi"}]})").param ==
        "tools[0]");
  CHECK(
      parse_error(
          R"({"model": "m", "tools": [{}], "parallel_tool_calls": "yes", "messages": [{"role": "user", "content": "Hi"}]})")
          .param == "parallel_tool_calls");
}

TEST_CASE("tool calls stream as delta.tool_calls in OpenAI's shape: id, type and name first, then arguments") {
  const CompletionIdentity identity{"chatcmpl-1", 5, "m", ""};
  const std::string head = R"(data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"m",)";
  const std::string tail = R"(,"logprobs":null,"finish_reason":null}]})"
                           "\n\n";
  auto format = chat_completion_format(false);
  CHECK(
      format->stream_tool_call(identity, {0, "call_1", "weather", ""}) ==
      head +
          R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"weather","arguments":""}}]})" +
          tail);
  CHECK(format->stream_tool_call(identity, {0, "", "", R"({"city":)"}) ==
        head + R"("choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]})" +
            tail);
  // A second call, whose upstream gave no id: it gets one, since clients answer a call by its id.
  auto second = event_json(format->stream_tool_call(identity, {1, "", "time", "{}"}));
  const auto &call = second["choices"][0]["delta"]["tool_calls"][0];
  CHECK(call["index"].GetUint() == 1);
  CHECK(str(call["id"]).rfind("call_", 0) == 0);
  CHECK(str(call["id"]).size() > 10);
  CHECK(str(call["function"]["name"]) == "time");
  CHECK(str(call["function"]["arguments"]) == "{}");
  CHECK(str(event_json(finish_event(identity, core::FinishReason::tool_calls))["choices"][0]["finish_reason"]) ==
        "tool_calls");
}

TEST_CASE("a whole answer's tool calls are put together from their pieces; content is null without text") {
  ToolCalls assembled;
  for (const core::ToolCallDelta &piece : std::vector<core::ToolCallDelta>{{0, "call_1", "weather", ""},
                                                                           {0, "", "", R"({"city":)"},
                                                                           {1, "call_2", "time", "{}"},
                                                                           {0, "", "", R"("Oslo"})"}})
    assembled.add(piece);
  const std::vector<ToolCall> &calls = assembled.calls();

  REQUIRE(calls.size() == 2);
  CHECK(calls[0].arguments == R"({"city":"Oslo"})");
  CHECK(calls[1].name == "time");
  const CompletionIdentity identity{"chatcmpl-1", 5, "m", ""};
  CHECK(completion_json(identity, "", calls, {core::FinishReason::tool_calls, {4, 2}}) ==
        R"({"id":"chatcmpl-1","object":"chat.completion","created":5,"model":"m","choices":[{"index":0,"message":)"
        R"({"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":)"
        R"("weather","arguments":"{\"city\":\"Oslo\"}"}},{"id":"call_2","type":"function","function":{"name":"time",)"
        R"("arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":4,)"
        R"("completion_tokens":2,"total_tokens":6}})");
  auto with_text = parse(chat_completion_format(false)->whole(identity, "Let me look.", calls, {}));
  CHECK(str(with_text["choices"][0]["message"]["content"]) == "Let me look.");
  CHECK(with_text["choices"][0]["message"]["tool_calls"].Size() == 2);
}

// The chat bridge spares the engine its token estimate for a streamed answer whose format says it carries no
// usage: that answer must indeed write none, and the formats that write one must say so.
TEST_CASE("a format says it streams the usage exactly when its streamed end carries one") {
  const CompletionIdentity identity{"chatcmpl-1", 5, "m", ""};
  const core::AnswerSummary summary{core::FinishReason::stop, {7, 2}};
  for (bool include_usage : {false, true}) {
    CAPTURE(include_usage);
    auto format = chat_completion_format(include_usage);
    const bool written = format->stream_end(identity, summary).find("\"usage\"") != std::string::npos;
    CHECK(written == include_usage);
    CHECK(format->streams_usage() == written);
  }
  auto responses = responses_format();
  CHECK(responses->stream_end(identity, summary).find("\"usage\"") != std::string::npos);
  CHECK(responses->streams_usage());
}
