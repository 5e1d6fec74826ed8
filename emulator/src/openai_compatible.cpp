// The OpenAI-compatible endpoint (/openai/v1/chat/completions): what the OpenAICompatible plugin is tested
// against. Unlike the five sites' routes, its answer depends on the request, as a real model's does: text or a
// tool call, JSON when a response_format asks for it, the usage chunk when stream_options asks for it; and the
// model's name chooses an error, the way a fault does elsewhere.
#include "openai_compatible.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace provhost::emulator::detail {
namespace {

// The key the endpoint accepts ("Authorization: Bearer sk-emulator").
constexpr std::string_view accepted_key = "Bearer sk-emulator";

Reply openai_error(int status, std::string_view type, std::string_view code, std::string_view message,
                   const Head &extra = {}) {
  return small_reply(status, "application/json",
                     R"({"error":{"message":)" + json_string(message) + R"(,"type":)" + json_string(type) +
                         R"(,"param":null,"code":)" + json_string(code) + "}}",
                     extra);
}

std::string_view string_at(const rapidjson::Value &object, const char *name) {
  if (!object.IsObject()) return {};
  auto found = object.FindMember(name);
  if (found == object.MemberEnd() || !found->value.IsString()) return {};
  return {found->value.GetString(), found->value.GetStringLength()};
}

// What the model answers: a tool call, or text (JSON text when asked for).
struct ModelAnswer {
  std::string text;
  std::string tool_name;  // "" = no tool call
  std::string tool_arguments;
  std::string finish_reason = "stop";
  std::size_t prompt_tokens = 0;
};

ModelAnswer model_answer(const rapidjson::Document &request, const std::string &expected_text) {
  ModelAnswer answer;
  std::string_view last_role, last_content;
  auto messages = request.FindMember("messages");
  if (messages != request.MemberEnd() && messages->value.IsArray()) {
    answer.prompt_tokens = 17 * messages->value.Size();
    if (!messages->value.Empty()) {
      last_role = string_at(messages->value[messages->value.Size() - 1], "role");
      last_content = string_at(messages->value[messages->value.Size() - 1], "content");
    }
  }
  auto tools = request.FindMember("tools");
  if (tools != request.MemberEnd() && tools->value.IsArray() && !tools->value.Empty() && last_role != "tool") {
    answer.tool_name = std::string(string_at(tools->value[0].IsObject() && tools->value[0].HasMember("function")
                                                 ? tools->value[0]["function"]
                                                 : tools->value[0],
                                             "name"));
    answer.tool_arguments = R"({"query":"emulator"})";
    answer.finish_reason = "tool_calls";
    return answer;
  }
  // A tool's result comes back: the model says what it was told.
  answer.text = last_role == "tool" ? "The tool said: " + std::string(last_content) : expected_text;
  auto format = request.FindMember("response_format");
  const std::string_view format_type = format == request.MemberEnd() ? "" : string_at(format->value, "type");
  if (format_type == "json_object" || format_type == "json_schema")
    answer.text = R"({"answer":)" + json_string(answer.text) + "}";
  return answer;
}

std::string usage_json(const ModelAnswer &answer, std::size_t completion_tokens) {
  return R"({"prompt_tokens":)" + std::to_string(answer.prompt_tokens) + R"(,"completion_tokens":)" +
         std::to_string(completion_tokens) + R"(,"total_tokens":)" +
         std::to_string(answer.prompt_tokens + completion_tokens) + "}";
}

std::string tool_call_json(const ModelAnswer &answer, bool with_index, std::string_view arguments) {
  return std::string("[{") + (with_index ? R"("index":0,)" : "") + R"("id":"call_emulator_1","type":"function",)" +
         R"("function":{"name":)" + json_string(answer.tool_name) + R"(,"arguments":)" + json_string(arguments) + "}}]";
}

std::string chunk(std::string_view model, std::string_view delta, std::string_view finish_reason) {
  return R"(data: {"id":"chatcmpl-emulator","object":"chat.completion.chunk","created":1700000000,"model":)" +
         json_string(model) + R"(,"choices":[{"index":0,"delta":)" + std::string(delta) + R"(,"finish_reason":)" +
         (finish_reason.empty() ? std::string("null") : json_string(finish_reason)) + "}]}\n\n";
}

std::string stream_body(const ModelAnswer &answer, std::string_view model, bool include_usage) {
  std::string body = chunk(model, R"({"role":"assistant","content":""})", "");
  std::size_t pieces = 0;
  if (!answer.tool_name.empty()) {
    // As OpenAI streams a call: its id and name first, then the arguments in pieces.
    const std::string_view arguments = answer.tool_arguments;
    const std::size_t half = arguments.size() / 2;
    body += chunk(model, R"({"tool_calls":)" + tool_call_json(answer, true, "") + "}", "");
    for (std::string_view part : {arguments.substr(0, half), arguments.substr(half)}) {
      body += chunk(model, R"({"tool_calls":[{"index":0,"function":{"arguments":)" + json_string(part) + "}}]}", "");
      ++pieces;
    }
  } else {
    for (const std::string &piece : tokenize(answer.text, 8)) {
      body += chunk(model, R"({"content":)" + json_string(piece) + "}", "");
      ++pieces;
    }
  }
  body += chunk(model, "{}", answer.finish_reason);
  if (include_usage) {
    body += R"(data: {"id":"chatcmpl-emulator","object":"chat.completion.chunk","created":1700000000,"model":)" +
            json_string(model) + R"(,"choices":[],"usage":)" + usage_json(answer, pieces) + "}\n\n";
  }
  return body + "data: [DONE]\n\n";
}

std::string whole_body(const ModelAnswer &answer, std::string_view model) {
  const bool tool = !answer.tool_name.empty();
  std::string message = R"({"role":"assistant","content":)" + (tool ? std::string("null") : json_string(answer.text));
  if (tool) message += R"(,"tool_calls":)" + tool_call_json(answer, false, answer.tool_arguments);
  message += "}";
  const std::size_t completion_tokens = tool ? 2 : tokenize(answer.text, 8).size();
  return R"({"id":"chatcmpl-emulator","object":"chat.completion","created":1700000000,"model":)" + json_string(model) +
         R"(,"choices":[{"index":0,"message":)" + message + R"(,"finish_reason":)" + json_string(answer.finish_reason) +
         R"(}],"usage":)" + usage_json(answer, completion_tokens) + "}";
}

}  // namespace

Reply respond_openai_compatible(State &state, const Request &request) {
  if (request.method() != boost::beast::http::verb::post)
    return small_reply(405, "application/json", R"({"error":{"message":"Method Not Allowed"}})",
                       Head{0, {{"Allow", "POST"}}});
  if (request[boost::beast::http::field::authorization] != accepted_key)
    return openai_error(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.");
  rapidjson::Document body;
  body.Parse(request.body().data(), request.body().size());
  if (body.HasParseError() || !body.IsObject())
    return openai_error(400, "invalid_request_error", "invalid_json",
                        "We could not parse the JSON body of your request.");
  const std::string model(string_at(body, "model"));
  if (model.empty())
    return openai_error(400, "invalid_request_error", "missing_model", "you must provide a model parameter");
  if (model == "rate-limited")
    return openai_error(429, "requests", "rate_limit_exceeded", "Rate limit reached for requests",
                        Head{0, {{"Retry-After", "7"}}});
  if (model == "overloaded")
    return openai_error(503, "server_error", "overloaded", "The engine is currently overloaded",
                        Head{0, {{"Retry-After", "3"}}});
  if (model == "error-in-stream")
    return small_reply(200, "text/event-stream",
                       "data: {\"error\":{\"message\":\"The server had an error\"}}\n\ndata: [DONE]\n\n");

  const ModelAnswer answer = model_answer(body, state.expected_text());
  auto stream = body.FindMember("stream");
  if (stream == body.MemberEnd() || !stream->value.IsBool() || !stream->value.GetBool())
    return small_reply(200, "application/json", whole_body(answer, model));
  auto options = body.FindMember("stream_options");
  const bool include_usage = options != body.MemberEnd() && options->value.IsObject() &&
                             options->value.HasMember("include_usage") && options->value["include_usage"].IsBool() &&
                             options->value["include_usage"].GetBool();
  Head head;
  head.headers = {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}};
  auto wire =
      std::make_shared<const Wire>(frame(head, stream_body(answer, model, include_usage), true, state.write_size()));
  const std::size_t size = wire->bytes.size();
  return Reply{std::move(wire), size, After::next_request};
}

}  // namespace provhost::emulator::detail
