#include <provhost/provhost.h>

#include <algorithm>
#include <map>
#include <optional>
#include <provhost/core/request_options.hpp>
#include <provhost/serve/ids.hpp>
#include <provhost/serve/responses.hpp>
#include <provhost/text.hpp>

#include "openai_json.hpp"

namespace provhost::serve {

using namespace openai_json;

namespace {

// The conversation as input items, in both shapes: the engine's messages, and chat-completions messages (JSON,
// with tool calls and tool messages) for a provider that honours tools.
struct Conversation {
  explicit Conversation(std::vector<core::Message> &messages) : messages(messages) {}

  std::vector<core::Message> &messages;
  rapidjson::Document chat{rapidjson::kArrayType};
  std::string tool_message;    // the param of the first item only such a provider can take; "" for none
  bool last_is_calls = false;  // the last chat message holds function_call items: the next call joins it

  void add(std::string role, std::string content) {
    auto &a = chat.GetAllocator();
    rapidjson::Value message(rapidjson::kObjectType);
    message.AddMember("role", rapidjson::Value(role.c_str(), a), a);
    message.AddMember("content", rapidjson::Value(content.c_str(), static_cast<rapidjson::SizeType>(content.size()), a),
                      a);
    chat.PushBack(message, a);
    messages.push_back({std::move(role), std::move(content)});
    last_is_calls = false;
  }
};

std::optional<ApiError> required_string(const rapidjson::Value &item, const std::string &param, const char *name,
                                        std::string_view &out) {
  auto member = item.FindMember(name);
  if (member == item.MemberEnd() || member->value.IsNull()) {
    return invalid_request("Missing required parameter: '" + param + "." + name + "'.", param + "." + name,
                           "missing_required_parameter");
  }
  if (!member->value.IsString()) return wrong_type(param + "." + name, "a string", member->value);
  out = view_of(member->value);
  return std::nullopt;
}

// {"type": "function_call", "call_id", "name", "arguments"}: a call the model made, as an assistant's tool_calls
// (consecutive calls in one message, as the model made them at once).
std::optional<ApiError> read_function_call(const rapidjson::Value &item, const std::string &param,
                                           Conversation &conversation) {
  std::string_view call_id, name, arguments;
  if (auto error = required_string(item, param, "call_id", call_id)) return error;
  if (auto error = required_string(item, param, "name", name)) return error;
  if (auto error = required_string(item, param, "arguments", arguments)) return error;
  auto &a = conversation.chat.GetAllocator();
  auto text = [&](std::string_view s) {
    return rapidjson::Value(s.data(), static_cast<rapidjson::SizeType>(s.size()), a);
  };
  rapidjson::Value function(rapidjson::kObjectType);
  function.AddMember("name", text(name), a);
  function.AddMember("arguments", text(arguments), a);
  rapidjson::Value call(rapidjson::kObjectType);
  call.AddMember("id", text(call_id), a);
  call.AddMember("type", "function", a);
  call.AddMember("function", function, a);
  if (!conversation.last_is_calls) {
    conversation.add("assistant", "");
    auto &message = conversation.chat[conversation.chat.Size() - 1];
    message["content"].SetNull();
    message.AddMember("tool_calls", rapidjson::Value(rapidjson::kArrayType), a);
    conversation.last_is_calls = true;
  }
  conversation.chat[conversation.chat.Size() - 1]["tool_calls"].PushBack(call, a);
  return std::nullopt;
}

// {"type": "function_call_output", "call_id", "output"}: a tool's answer, as a tool message.
std::optional<ApiError> read_function_call_output(const rapidjson::Value &item, const std::string &param,
                                                  Conversation &conversation) {
  std::string_view call_id;
  if (auto error = required_string(item, param, "call_id", call_id)) return error;
  auto output = item.FindMember("output");
  if (output == item.MemberEnd() || output->value.IsNull()) {
    return invalid_request("Missing required parameter: '" + param + ".output'.", param + ".output",
                           "missing_required_parameter");
  }
  std::string content;
  static const std::vector<std::string_view> text_parts = {"input_text", "output_text", "text"};
  if (auto error = read_content(output->value, param + ".output", content, text_parts)) return error;
  conversation.add("tool", std::move(content));
  auto &a = conversation.chat.GetAllocator();
  conversation.chat[conversation.chat.Size() - 1].AddMember(
      "tool_call_id", rapidjson::Value(call_id.data(), static_cast<rapidjson::SizeType>(call_id.size()), a), a);
  return std::nullopt;
}

std::optional<ApiError> read_input_items(const rapidjson::Value &input, Conversation &conversation) {
  if (input.IsString()) {
    conversation.add("user", std::string(view_of(input)));
    return std::nullopt;
  }
  if (!input.IsArray()) return wrong_type("input", "a string or an array of items", input);
  if (input.Empty()) return invalid_request("'input' must contain at least one item.", "input");
  static const std::vector<std::string_view> text_parts = {"input_text", "output_text", "text"};
  for (rapidjson::SizeType i = 0; i < input.Size(); ++i) {
    const auto &item = input[i];
    const std::string param = "input[" + std::to_string(i) + "]";
    if (!item.IsObject()) return wrong_type(param, "an object", item);
    std::string_view type = "message";
    if (auto member = item.FindMember("type"); member != item.MemberEnd()) {
      if (!member->value.IsString()) return wrong_type(param + ".type", "a string", member->value);
      type = view_of(member->value);
    }
    if (type == "function_call" || type == "function_call_output") {
      auto error = type == "function_call" ? read_function_call(item, param, conversation)
                                           : read_function_call_output(item, param, conversation);
      if (error) return error;
      if (conversation.tool_message.empty()) conversation.tool_message = param + ".type";
      continue;
    }
    if (type == "item_reference") {
      return invalid_request("'" + param +
                                 "' refers to an item of a stored response; provhost stores none: send the item "
                                 "itself (the AI SDK does with providerOptions.openai.store = false).",
                             param + ".type", "unsupported_parameter");
    }
    if (type != "message") {
      return invalid_request("Only message, function_call and function_call_output items are supported in 'input' ('" +
                                 param + ".type' is \"" + provhost::one_line(type) + "\").",
                             param + ".type", "unsupported_parameter");
    }
    core::Message message;
    if (auto error = read_message(item, param, message, text_parts)) return error;
    conversation.add(std::move(message.role), std::move(message.content));
  }
  return std::nullopt;
}

// The Responses API's flat function tools ({"type": "function", "name", "description", "parameters", "strict"})
// and tool_choice in chat completions' shape, gated on param:tools; any other kind of tool is unsupported.
std::optional<ApiError> read_responses_tools(const rapidjson::Value &body, ChatRequest &request) {
  auto tools = body.FindMember("tools");
  auto choice = body.FindMember("tool_choice");
  const rapidjson::Value *tool_choice = choice == body.MemberEnd() || choice->value.IsNull() ? nullptr : &choice->value;
  if (tools == body.MemberEnd() || tools->value.IsNull() || (tools->value.IsArray() && tools->value.Empty())) {
    if (tool_choice &&
        (!tool_choice->IsString() || (view_of(*tool_choice) != "none" && view_of(*tool_choice) != "auto")))
      request.unsupported.emplace_back("tool_choice");
    return std::nullopt;
  }
  if (!tools->value.IsArray()) return wrong_type("tools", "an array", tools->value);
  rapidjson::Document chat_tools(rapidjson::kArrayType);
  auto &a = chat_tools.GetAllocator();
  for (rapidjson::SizeType i = 0; i < tools->value.Size(); ++i) {
    const auto &tool = tools->value[i];
    const std::string param = "tools[" + std::to_string(i) + "]";
    if (!tool.IsObject()) return wrong_type(param, "an object", tool);
    auto type = tool.FindMember("type");
    if (type == tool.MemberEnd() || !type->value.IsString() || view_of(type->value) != "function") {
      request.unsupported.emplace_back("tools");  // hosted tools (web_search, file_search, ...): no provider runs them
      return std::nullopt;
    }
    std::string_view name;
    if (auto error = required_string(tool, param, "name", name)) return error;
    rapidjson::Value function(rapidjson::kObjectType);
    for (const char *field : {"name", "description", "parameters", "strict"}) {
      auto member = tool.FindMember(field);
      if (member != tool.MemberEnd() && !member->value.IsNull())
        function.AddMember(rapidjson::StringRef(field), rapidjson::Value(member->value, a), a);
    }
    rapidjson::Value chat_tool(rapidjson::kObjectType);
    chat_tool.AddMember("type", "function", a);
    chat_tool.AddMember("function", function, a);
    chat_tools.PushBack(chat_tool, a);
  }
  GatedParameter gate{"tools", PH_CAP_PARAM_TOOLS, {{"tools", json_text(chat_tools)}}};
  if (tool_choice) {
    if (tool_choice->IsString()) {
      gate.fields.emplace_back("tool_choice", json_text(*tool_choice));
    } else if (tool_choice->IsObject() && tool_choice->HasMember("type") && (*tool_choice)["type"].IsString() &&
               view_of((*tool_choice)["type"]) == "function" && tool_choice->HasMember("name") &&
               (*tool_choice)["name"].IsString()) {
      gate.fields.emplace_back("tool_choice",
                               R"({"type":"function","function":{"name":)" + json_text((*tool_choice)["name"]) + "}}");
    } else {
      request.unsupported.emplace_back("tool_choice");
    }
  }
  if (auto parallel = body.FindMember("parallel_tool_calls");
      parallel != body.MemberEnd() && !parallel->value.IsNull()) {
    if (!parallel->value.IsBool()) return wrong_type("parallel_tool_calls", "a boolean", parallel->value);
    gate.fields.emplace_back("parallel_tool_calls", json_text(parallel->value));
  }
  request.gated.push_back(std::move(gate));
  return std::nullopt;
}

// text.format: "json_object", or "json_schema" ({"name", "schema", "strict", "description"} beside the type), as
// chat completions' response_format, gated on param:response_format.
void read_text_format(const rapidjson::Value &body, ChatRequest &request) {
  auto text = body.FindMember("text");
  if (text == body.MemberEnd() || !text->value.IsObject()) return;
  auto format = text->value.FindMember("format");
  if (format == text->value.MemberEnd() || !format->value.IsObject()) return;
  auto type = format->value.FindMember("type");
  const std::string_view kind = type != format->value.MemberEnd() && type->value.IsString() ? view_of(type->value) : "";
  if (kind == "text") return;
  if (kind == "json_object") {
    request.gated.push_back(
        {"text.format", PH_CAP_PARAM_RESPONSE_FORMAT, {{"response_format", R"({"type":"json_object"})"}}});
    return;
  }
  if (kind != "json_schema") {
    request.unsupported.emplace_back("text.format");
    return;
  }
  rapidjson::Document response_format(rapidjson::kObjectType);
  auto &a = response_format.GetAllocator();
  rapidjson::Value schema(rapidjson::kObjectType);
  for (const char *field : {"name", "description", "schema", "strict"}) {
    auto member = format->value.FindMember(field);
    if (member != format->value.MemberEnd() && !member->value.IsNull())
      schema.AddMember(rapidjson::StringRef(field), rapidjson::Value(member->value, a), a);
  }
  response_format.AddMember("type", "json_schema", a);
  response_format.AddMember("json_schema", schema, a);
  request.gated.push_back(
      {"text.format", PH_CAP_PARAM_RESPONSE_FORMAT, {{"response_format", json_text(response_format)}}});
}

// Parameters of the Responses API that need state or output kinds provhost does not have.
void read_unsupported_responses(const rapidjson::Value &body, std::vector<std::string> &unsupported) {
  auto given = [&](const char *name) {
    auto member = body.FindMember(name);
    return member != body.MemberEnd() && !member->value.IsNull() && !member->value.IsFalse();
  };
  for (const char *name : {"previous_response_id", "conversation", "background", "prompt"}) {
    if (given(name)) unsupported.emplace_back(name);
  }
}

// The response object: in progress (no output yet), completed, incomplete (max_output_tokens) or
// failed.
enum class Status { in_progress, completed, incomplete, failed };

const char *status_name(Status status) {
  static constexpr const char *names[] = {"in_progress", "completed", "incomplete", "failed"};
  return names[static_cast<int>(status)];
}

// One item of the response's output: the assistant's message, or a function call the model made.
struct OutputItem {
  bool is_call = false;
  std::string id;       // "msg_...", "fc_..."
  std::string call_id;  // a call's: what its function_call_output answers
  std::string name;     // a call's function
  uint32_t index = 0;   // a call's index upstream
  std::string text;     // the message's text, or the call's arguments
  Status status = Status::in_progress;
};

class ResponsesFormat final : public AnswerFormat {
 public:
  ResponsesFormat() : response_id_("resp_" + random_token(24)) {}

  const char *endpoint() const override { return "responses"; }

  std::string stream_start(const CompletionIdentity &identity) override {
    std::string events = event("response.created", [&](Writer &w) {
      write_key(w, "response");
      write_response(w, identity, Status::in_progress);
    });
    events += event("response.in_progress", [&](Writer &w) {
      write_key(w, "response");
      write_response(w, identity, Status::in_progress);
    });
    return events;
  }

  std::string stream_text(const CompletionIdentity &, std::string_view text) override {
    std::string events;
    if (!open_ || items_[*open_].is_call) events += open_message();
    items_[*open_].text.append(text);
    return events += event("response.output_text.delta", [&](Writer &w) {
             write_part_position(w, *open_);
             write_key(w, "delta");
             write_string(w, text);
             write_key(w, "logprobs");
             w.StartArray();
             w.EndArray();
           });
  }

  std::string stream_tool_call(const CompletionIdentity &, const core::ToolCallDelta &piece) override {
    std::string events;
    auto [call, added] = call_items_.try_emplace(piece.index, items_.size());
    const std::size_t at = call->second;
    if (added)
      events += open_item({true, "fc_" + random_token(24), tool_call_id_or_new(piece.id), piece.name, piece.index, {}});
    if (piece.arguments.empty()) return events;
    items_[at].text += piece.arguments;
    return events += event("response.function_call_arguments.delta", [&](Writer &w) {
             write_key(w, "item_id");
             write_string(w, items_[at].id);
             write_key(w, "output_index");
             w.Uint64(at);
             write_key(w, "delta");
             write_string(w, piece.arguments);
           });
  }

  std::string stream_end(const CompletionIdentity &identity, const core::AnswerSummary &summary) override {
    summary_ = summary;
    const Status status = summary.finish_reason == core::FinishReason::length ? Status::incomplete : Status::completed;
    std::string events;
    if (items_.empty()) events += open_message();  // an empty answer is still a message, with no text
    events += close_open(status);
    events += event(status == Status::incomplete ? "response.incomplete" : "response.completed", [&](Writer &w) {
      write_key(w, "response");
      write_response(w, identity, status);
    });
    return events;
  }

  std::string stream_error(const CompletionIdentity &identity, const ApiError &error) override {
    error_ = error;
    std::string events = event("error", [&](Writer &w) {
      write_key(w, "code");
      write_string_or_null(w, error.code);
      write_key(w, "message");
      write_string(w, error.message);
      write_key(w, "param");
      write_string_or_null(w, error.param);
    });
    events += event("response.failed", [&](Writer &w) {
      write_key(w, "response");
      write_response(w, identity, Status::failed);
    });
    return events;
  }

  std::string whole(const CompletionIdentity &identity, std::string_view content,
                    const std::vector<ToolCall> &tool_calls, const core::AnswerSummary &summary) override {
    summary_ = summary;
    const Status status = summary.finish_reason == core::FinishReason::length ? Status::incomplete : Status::completed;
    // A turn that only called tools has no message: a client would send an empty one back as history.
    if (!content.empty() || tool_calls.empty())
      items_.push_back({false, "msg_" + random_token(24), {}, {}, 0, std::string(content), status});
    for (const ToolCall &call : tool_calls) {
      items_.push_back({true, "fc_" + random_token(24), tool_call_id_or_new(call.id), call.name, call.index,
                        call.arguments, Status::completed});
    }
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    write_response(w, identity, status);
    return {buffer.GetString(), buffer.GetSize()};
  }

 private:
  // "event: TYPE\ndata: {"type": TYPE, "sequence_number": N, ...}\n\n"
  template <class Fields>
  std::string event(std::string_view type, Fields fields) {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    write_key(w, "type");
    write_string(w, type);
    write_key(w, "sequence_number");
    w.Uint64(sequence_number_++);
    fields(w);
    w.EndObject();
    std::string out;
    out.reserve(type.size() + buffer.GetSize() + 16);
    out.append("event: ").append(type).append("\ndata: ").append(buffer.GetString(), buffer.GetSize()).append("\n\n");
    return out;
  }

  // `item` added to the output as the open one, after the open item is closed.
  std::string open_item(OutputItem item) {
    std::string events = close_open(Status::completed);
    const std::size_t at = items_.size();
    items_.push_back(std::move(item));
    open_ = at;
    return events += event("response.output_item.added", [&](Writer &w) {
             write_key(w, "output_index");
             w.Uint64(at);
             write_key(w, "item");
             write_item(w, items_[at]);
           });
  }

  // A new message item, after the open item is closed.
  std::string open_message() {
    std::string events = open_item({false, "msg_" + random_token(24), {}, {}, 0, {}});
    const std::size_t at = *open_;
    events += event("response.content_part.added", [&](Writer &w) {
      write_part_position(w, at);
      write_key(w, "part");
      write_text_part(w, "");
    });
    return events;
  }

  // The events that end the open item, which ends as `status`.
  std::string close_open(Status status) {
    if (!open_) return {};
    const std::size_t at = *std::exchange(open_, std::nullopt);
    OutputItem &item = items_[at];
    item.status = item.is_call ? Status::completed : status;
    std::string events;
    if (item.is_call) {
      events += event("response.function_call_arguments.done", [&](Writer &w) {
        write_key(w, "item_id");
        write_string(w, item.id);
        write_key(w, "output_index");
        w.Uint64(at);
        write_key(w, "name");
        write_string(w, item.name);
        write_key(w, "arguments");
        write_string(w, item.text);
      });
    } else {
      events += event("response.output_text.done", [&](Writer &w) {
        write_part_position(w, at);
        write_key(w, "text");
        write_string(w, item.text);
        write_key(w, "logprobs");
        w.StartArray();
        w.EndArray();
      });
      events += event("response.content_part.done", [&](Writer &w) {
        write_part_position(w, at);
        write_key(w, "part");
        write_text_part(w, item.text);
      });
    }
    events += event("response.output_item.done", [&](Writer &w) {
      write_key(w, "output_index");
      w.Uint64(at);
      write_key(w, "item");
      write_item(w, item);
    });
    return events;
  }

  void write_part_position(Writer &w, std::size_t at) const {
    write_key(w, "item_id");
    write_string(w, items_[at].id);
    write_key(w, "output_index");
    w.Uint64(at);
    write_key(w, "content_index");
    w.Int(0);
  }

  static void write_text_part(Writer &w, std::string_view text) {
    w.StartObject();
    write_key(w, "type");
    write_string(w, "output_text");
    write_key(w, "text");
    write_string(w, text);
    write_key(w, "annotations");
    w.StartArray();
    w.EndArray();
    w.EndObject();
  }

  static void write_item(Writer &w, const OutputItem &item) {
    w.StartObject();
    write_key(w, "id");
    write_string(w, item.id);
    write_key(w, "type");
    write_string(w, item.is_call ? "function_call" : "message");
    write_key(w, "status");
    write_string(w, status_name(item.status));
    if (item.is_call) {
      write_key(w, "arguments");
      write_string(w, item.status == Status::in_progress ? "" : item.text);
      write_key(w, "call_id");
      write_string(w, item.call_id);
      write_key(w, "name");
      write_string(w, item.name);
    } else {
      write_key(w, "role");
      write_string(w, "assistant");
      write_key(w, "content");
      w.StartArray();
      if (item.status != Status::in_progress) write_text_part(w, item.text);
      w.EndArray();
    }
    w.EndObject();
  }

  void write_response(Writer &w, const CompletionIdentity &identity, Status status) const {
    w.StartObject();
    write_key(w, "id");
    write_string(w, response_id_);
    write_key(w, "object");
    write_string(w, "response");
    write_key(w, "created_at");
    w.Int64(identity.created);
    write_key(w, "status");
    write_string(w, status_name(status));
    write_key(w, "error");
    if (status == Status::failed) {
      w.StartObject();
      write_key(w, "code");
      write_string(w, error_.code.empty() ? error_.type : error_.code);
      write_key(w, "message");
      write_string(w, error_.message);
      w.EndObject();
    } else {
      w.Null();
    }
    write_key(w, "incomplete_details");
    if (status == Status::incomplete) {
      w.StartObject();
      write_key(w, "reason");
      write_string(w, "max_output_tokens");
      w.EndObject();
    } else {
      w.Null();
    }
    write_key(w, "model");
    write_string(w, identity.model);
    if (!identity.provider.empty()) {
      write_key(w, "provider");
      write_string(w, identity.provider);
    }
    write_key(w, "output");
    w.StartArray();
    if (status == Status::completed || status == Status::incomplete) {
      for (const OutputItem &item : items_) write_item(w, item);
    }
    w.EndArray();
    write_key(w, "parallel_tool_calls");
    w.Bool(false);
    write_key(w, "tool_choice");
    write_string(w, "none");
    write_key(w, "tools");
    w.StartArray();
    w.EndArray();
    write_key(w, "usage");
    if (status == Status::completed || status == Status::incomplete) {
      w.StartObject();
      write_key(w, "input_tokens");
      w.Uint64(summary_.usage.prompt_tokens);
      write_key(w, "input_tokens_details");
      w.StartObject();
      write_key(w, "cached_tokens");
      w.Uint64(0);
      w.EndObject();
      write_key(w, "output_tokens");
      w.Uint64(summary_.usage.completion_tokens);
      write_key(w, "output_tokens_details");
      w.StartObject();
      write_key(w, "reasoning_tokens");
      w.Uint64(0);
      w.EndObject();
      write_key(w, "total_tokens");
      w.Uint64(summary_.usage.total());
      w.EndObject();
    } else {
      w.Null();
    }
    w.EndObject();
  }

  const std::string response_id_;
  uint64_t sequence_number_ = 0;
  std::vector<OutputItem> items_;               // the output so far: the closing events repeat it whole
  std::optional<std::size_t> open_;             // the item being streamed
  std::map<uint32_t, std::size_t> call_items_;  // the item of each tool call, by its index upstream
  core::AnswerSummary summary_;
  ApiError error_;
};

}  // namespace

std::variant<ChatRequest, ApiError> parse_responses_request(std::string_view body) {
  rapidjson::Document doc;
  if (auto error = parse_body(body, doc)) return *error;
  ChatRequest request;
  core::ChatSpec &spec = request.spec;
  if (auto error = read_chat_target(doc, spec)) return *error;
  std::string instructions;
  if (auto error = read_optional_string(doc, "instructions", instructions)) return *error;
  Conversation conversation(spec.messages);
  if (!instructions.empty()) conversation.add("system", std::move(instructions));

  auto input = doc.FindMember("input");
  if (input == doc.MemberEnd() || input->value.IsNull()) {
    return invalid_request("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  }
  if (auto error = read_input_items(input->value, conversation)) return *error;

  if (auto error = read_stream(doc, spec.stream)) return *error;
  static const std::vector<OptionField> options = {
      {"temperature", "temperature"}, {"top_p", "top_p"}, {"max_output_tokens", "max_tokens"}};
  if (auto error = read_options(doc, spec.options_json, options)) return *error;
  if (auto error = read_unsupported(doc, request.unsupported)) return *error;
  if (auto error = read_responses_tools(doc, request)) return *error;
  read_unsupported_responses(doc, request.unsupported);
  read_text_format(doc, request);
  if (!conversation.tool_message.empty() || !request.gated.empty())
    add_tools_messages(request, conversation.tool_message, json_text(conversation.chat));
  return request;
}

std::unique_ptr<AnswerFormat> responses_format() { return std::make_unique<ResponsesFormat>(); }

}  // namespace provhost::serve
