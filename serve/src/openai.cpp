#include <provhost/provhost.h>
#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <optional>
#include <provhost/core/request_options.hpp>
#include <provhost/serve/access_log.hpp>
#include <provhost/serve/answer_format.hpp>
#include <provhost/serve/ids.hpp>
#include <provhost/serve/openai.hpp>
#include <provhost/text.hpp>
#include <set>

#include "openai_json.hpp"

namespace provhost::serve {
namespace openai_json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer &w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void write_key(Writer &w, std::string_view key) { w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size())); }

void write_string_or_null(Writer &w, std::string_view s) {
  if (s.empty()) {
    w.Null();
  } else {
    write_string(w, s);
  }
}

std::string_view json_type_name(const rapidjson::Value &v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return v.IsInt64() || v.IsUint64() ? "an integer" : "a decimal";
  }
  return "a value";
}

ApiError invalid_request(std::string message, std::string param, std::string code) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code)};
}

ApiError wrong_type(const std::string &param, std::string_view expected, const rapidjson::Value &got) {
  return invalid_request("Invalid type for '" + param + "': expected " + std::string(expected) + ", but got " +
                             std::string(json_type_name(got)) + " instead.",
                         param, "invalid_type");
}

std::string_view view_of(const rapidjson::Value &v) { return {v.GetString(), v.GetStringLength()}; }

std::string json_text(const rapidjson::Value &v) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  v.Accept(w);
  return {buffer.GetString(), buffer.GetSize()};
}

std::string tool_call_id_or_new(std::string_view id) {
  return id.empty() ? "call_" + random_token(24) : std::string(id);
}

void add_tools_messages(ChatRequest &request, const std::string &tool_message, const std::string &messages_json) {
  for (GatedParameter &gate : request.gated) {
    if (gate.capability == PH_CAP_PARAM_TOOLS) gate.fields.emplace_back("messages", messages_json);
  }
  if (!tool_message.empty())
    request.gated.push_back({tool_message, PH_CAP_PARAM_TOOLS, {{"messages", messages_json}}, false});
}

// OpenAI's newer clients send "developer" where older ones send "system"; providers know only the latter.
bool normalise_role(std::string_view role, std::string &out) {
  if (role == "system" || role == "developer") {
    out = "system";
  } else if (role == "user" || role == "assistant") {
    out = std::string(role);
  } else {
    return false;
  }
  return true;
}

// Content is a string, null (an assistant turn that only called tools) or an array of parts, of
// which only text parts can reach a text-only provider.
std::optional<ApiError> read_content(const rapidjson::Value &content, const std::string &param, std::string &out,
                                     const std::vector<std::string_view> &text_types) {
  if (content.IsNull()) return std::nullopt;
  if (content.IsString()) {
    out.assign(content.GetString(), content.GetStringLength());
    return std::nullopt;
  }
  if (!content.IsArray()) return wrong_type(param, "one of a string or array of objects", content);
  for (rapidjson::SizeType i = 0; i < content.Size(); ++i) {
    const auto &part = content[i];
    std::string part_param = param + "[" + std::to_string(i) + "]";
    if (!part.IsObject()) return wrong_type(part_param, "an object", part);
    auto type = part.FindMember("type");
    auto text = part.FindMember("text");
    if (type == part.MemberEnd() || !type->value.IsString() ||
        std::find(text_types.begin(), text_types.end(), view_of(type->value)) == text_types.end()) {
      return invalid_request("Only text content parts are supported ('" + part_param + ".type' must be \"" +
                                 std::string(text_types.front()) + "\").",
                             part_param + ".type");
    }
    if (text == part.MemberEnd() || !text->value.IsString()) {
      return invalid_request("Missing required parameter: '" + part_param + ".text'.", part_param + ".text",
                             "missing_required_parameter");
    }
    // Parts are separate pieces of text (a question, then a pasted file): keep them apart.
    if (i > 0) out += '\n';
    out.append(text->value.GetString(), text->value.GetStringLength());
  }
  return std::nullopt;
}

std::optional<ApiError> read_message(const rapidjson::Value &m, const std::string &param, core::Message &message,
                                     const std::vector<std::string_view> &text_types) {
  if (!m.IsObject()) return wrong_type(param, "an object", m);
  auto role = m.FindMember("role");
  if (role == m.MemberEnd()) {
    return invalid_request("Missing required parameter: '" + param + ".role'.", param + ".role",
                           "missing_required_parameter");
  }
  if (!role->value.IsString()) return wrong_type(param + ".role", "a string", role->value);
  if (!normalise_role(view_of(role->value), message.role)) {
    return invalid_request("Invalid value for '" + param + ".role': \"" + std::string(view_of(role->value)) +
                               "\"; supported roles are system, developer, user and assistant.",
                           param + ".role", "invalid_value");
  }
  if (auto content = m.FindMember("content"); content != m.MemberEnd()) {
    if (auto error = read_content(content->value, param + ".content", message.content, text_types)) return error;
  } else if (message.role != "assistant") {
    return invalid_request("Missing required parameter: '" + param + ".content'.", param + ".content",
                           "missing_required_parameter");
  }
  return std::nullopt;
}

// A message of role "tool": the answer of the call `tool_call_id`, for providers that honour tools.
std::optional<ApiError> read_tool_message(const rapidjson::Value &m, const std::string &param, core::Message &message) {
  auto id = m.FindMember("tool_call_id");
  if (id == m.MemberEnd() || id->value.IsNull()) {
    return invalid_request("Missing required parameter: '" + param + ".tool_call_id'.", param + ".tool_call_id",
                           "missing_required_parameter");
  }
  if (!id->value.IsString()) return wrong_type(param + ".tool_call_id", "a string", id->value);
  auto content = m.FindMember("content");
  if (content == m.MemberEnd()) {
    return invalid_request("Missing required parameter: '" + param + ".content'.", param + ".content",
                           "missing_required_parameter");
  }
  message.role = "tool";
  return read_content(content->value, param + ".content", message.content);
}

// `tool_message`: set to the param of the first message only a provider that honours tools can take (a tool
// message, an assistant's tool_calls).
std::optional<ApiError> read_messages(const rapidjson::Value &messages, std::vector<core::Message> &out,
                                      std::string &tool_message) {
  if (!messages.IsArray()) return wrong_type("messages", "an array", messages);
  if (messages.Empty()) return invalid_request("'messages' must contain at least one message.", "messages");
  out.reserve(messages.Size());
  for (rapidjson::SizeType i = 0; i < messages.Size(); ++i) {
    const rapidjson::Value &m = messages[i];
    const std::string param = "messages[" + std::to_string(i) + "]";
    core::Message message;
    auto role = m.IsObject() ? m.FindMember("role") : rapidjson::Value::ConstMemberIterator();
    if (m.IsObject() && role != m.MemberEnd() && role->value.IsString() && view_of(role->value) == "tool") {
      if (auto error = read_tool_message(m, param, message)) return error;
      if (tool_message.empty()) tool_message = param + ".role";
    } else {
      if (auto error = read_message(m, param, message)) return error;
      auto calls = m.FindMember("tool_calls");
      if (message.role == "assistant" && calls != m.MemberEnd() && !calls->value.IsNull()) {
        if (!calls->value.IsArray()) return wrong_type(param + ".tool_calls", "an array", calls->value);
        if (!calls->value.Empty() && tool_message.empty()) tool_message = param + ".tool_calls";
      }
    }
    out.push_back(std::move(message));
  }
  return std::nullopt;
}

// tools, tool_choice, parallel_tool_calls and response_format of a chat-completions body: gated when some
// provider may honour them, unsupported when none can (the legacy functions, tool_choice without tools).
std::optional<ApiError> read_chat_gated(const rapidjson::Value &body, ChatRequest &request) {
  auto given = [&](const char *name) -> const rapidjson::Value * {
    auto member = body.FindMember(name);
    return member == body.MemberEnd() || member->value.IsNull() ? nullptr : &member->value;
  };
  if (const auto *format = given("response_format")) {
    auto type = format->IsObject() ? format->FindMember("type") : rapidjson::Value::ConstMemberIterator();
    if (!format->IsObject() || type == format->MemberEnd() || !type->value.IsString()) {
      return wrong_type("response_format", "an object with a \"type\" string", *format);
    }
    const std::string_view kind = view_of(type->value);
    if (kind == "json_object" || kind == "json_schema") {
      request.gated.push_back(
          {"response_format", PH_CAP_PARAM_RESPONSE_FORMAT, {{"response_format", json_text(*format)}}});
    } else if (kind != "text") {
      request.unsupported.emplace_back("response_format");
    }
  }
  if (const auto *functions = given("functions")) {
    if (!functions->IsArray()) return wrong_type("functions", "an array", *functions);
    if (!functions->Empty()) request.unsupported.emplace_back("functions");  // deprecated by OpenAI for tools
  }
  const auto *tools = given("tools");
  if (tools && !tools->IsArray()) return wrong_type("tools", "an array", *tools);
  const auto *choice = given("tool_choice");
  if (!tools || tools->Empty()) {
    // "none" and "auto" without tools ask for nothing a text-only provider cannot do.
    if (choice && (!choice->IsString() || (view_of(*choice) != "none" && view_of(*choice) != "auto")))
      request.unsupported.emplace_back("tool_choice");
    return std::nullopt;
  }
  for (rapidjson::SizeType i = 0; i < tools->Size(); ++i) {
    if (!(*tools)[i].IsObject()) return wrong_type("tools[" + std::to_string(i) + "]", "an object", (*tools)[i]);
  }
  GatedParameter gate{"tools", PH_CAP_PARAM_TOOLS, {{"tools", json_text(*tools)}}};
  if (choice) gate.fields.emplace_back("tool_choice", json_text(*choice));
  if (const auto *parallel = given("parallel_tool_calls")) {
    if (!parallel->IsBool()) return wrong_type("parallel_tool_calls", "a boolean", *parallel);
    gate.fields.emplace_back("parallel_tool_calls", json_text(*parallel));
  }
  request.gated.insert(request.gated.begin(), std::move(gate));
  return std::nullopt;
}

std::optional<ApiError> read_options(const rapidjson::Value &body, std::string &options_json,
                                     const std::vector<OptionField> &fields) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  std::vector<std::string_view> written;
  for (const OptionField &field : fields) {
    auto member = body.FindMember(rapidjson::StringRef(field.body_name));
    if (member == body.MemberEnd() || member->value.IsNull()) continue;
    if (std::find(written.begin(), written.end(), field.option) != written.end()) continue;  // the first name wins
    const core::RequestOption &option = *core::find_request_option(field.option);
    if (!option.accepts(member->value)) return wrong_type(field.body_name, option.expected, member->value);
    write_key(w, option.name);
    member->value.Accept(w);
    written.push_back(option.name);
  }
  w.EndObject();
  options_json.assign(buffer.GetString(), buffer.GetSize());
  return std::nullopt;
}

// See ChatRequest::unsupported. Wrong types are 400s of their own, as for every field.
std::optional<ApiError> read_unsupported(const rapidjson::Value &body, std::vector<std::string> &unsupported) {
  auto given = [&](const char *name) -> const rapidjson::Value * {
    auto member = body.FindMember(name);
    return member == body.MemberEnd() || member->value.IsNull() ? nullptr : &member->value;
  };
  if (const auto *n = given("n")) {
    if (!n->IsInt64() || n->GetInt64() < 1) return wrong_type("n", "a positive integer", *n);
    if (n->GetInt64() > 1) unsupported.emplace_back("n");
  }
  if (const auto *logprobs = given("logprobs")) {
    if (!logprobs->IsBool()) return wrong_type("logprobs", "a boolean", *logprobs);
    if (logprobs->GetBool()) unsupported.emplace_back("logprobs");
  }
  if (const auto *top = given("top_logprobs")) {
    if (!top->IsInt64() || top->GetInt64() < 0) return wrong_type("top_logprobs", "a non-negative integer", *top);
    if (top->GetInt64() > 0) unsupported.emplace_back("top_logprobs");
  }
  if (given("audio")) unsupported.emplace_back("audio");
  if (const auto *modalities = given("modalities")) {
    if (!modalities->IsArray()) return wrong_type("modalities", "an array", *modalities);
    for (const auto &modality : modalities->GetArray()) {
      if (!modality.IsString() || view_of(modality) != "text") {
        unsupported.emplace_back("modalities");
        break;
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> read_optional_string(const rapidjson::Value &body, const char *name, std::string &out) {
  auto member = body.FindMember(name);
  if (member == body.MemberEnd() || member->value.IsNull()) return std::nullopt;
  if (!member->value.IsString()) return wrong_type(name, "a string", member->value);
  out.assign(member->value.GetString(), member->value.GetStringLength());
  return std::nullopt;
}

// The fields every chat.completion and chat.completion.chunk starts with.
void write_identity(Writer &w, const CompletionIdentity &identity, std::string_view object) {
  write_key(w, "id");
  write_string(w, identity.id);
  write_key(w, "object");
  write_string(w, object);
  write_key(w, "created");
  w.Int64(identity.created);
  write_key(w, "model");
  write_string(w, identity.model);
  if (!identity.provider.empty()) {
    write_key(w, "provider");
    write_string(w, identity.provider);
  }
}

void write_usage(Writer &w, const core::Usage &usage) {
  write_key(w, "usage");
  w.StartObject();
  write_key(w, "prompt_tokens");
  w.Uint64(usage.prompt_tokens);
  write_key(w, "completion_tokens");
  w.Uint64(usage.completion_tokens);
  write_key(w, "total_tokens");
  w.Uint64(usage.total());
  w.EndObject();
}

std::string event_of(const rapidjson::StringBuffer &buffer) {
  std::string event;
  event.reserve(buffer.GetSize() + 8);
  event.append("data: ").append(buffer.GetString(), buffer.GetSize()).append("\n\n");
  return event;
}

// A chat.completion.chunk: `write_choices` writes the items of its choices, `write_rest` the members after them.
template <class WriteChoices, class WriteRest>
std::string chunk_object(const CompletionIdentity &identity, WriteChoices write_choices, WriteRest write_rest) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  write_identity(w, identity, "chat.completion.chunk");
  write_key(w, "choices");
  w.StartArray();
  write_choices(w);
  w.EndArray();
  write_rest(w);
  w.EndObject();
  return event_of(buffer);
}

// A chat.completion.chunk with one choice: `write_delta` writes the members of its delta; `finish_reason` null
// for all but the last.
template <class WriteDelta>
std::string chunk_event(const CompletionIdentity &identity, WriteDelta write_delta,
                        const char *finish_reason = nullptr) {
  auto choice = [&](Writer &w) {
    w.StartObject();
    write_key(w, "index");
    w.Int(0);
    write_key(w, "delta");
    w.StartObject();
    write_delta(w);
    w.EndObject();
    write_key(w, "logprobs");
    w.Null();
    write_key(w, "finish_reason");
    if (finish_reason) {
      write_string(w, finish_reason);
    } else {
      w.Null();
    }
    w.EndObject();
  };
  return chunk_object(identity, choice, [](Writer &) {});
}

// The members of one call of message.tool_calls, or of a delta's first piece of a call.
void write_tool_call_head(Writer &w, std::string_view id, std::string_view name, std::string_view arguments) {
  write_key(w, "id");
  write_string(w, id);
  write_key(w, "type");
  write_string(w, "function");
  write_key(w, "function");
  w.StartObject();
  write_key(w, "name");
  write_string(w, name);
  write_key(w, "arguments");
  write_string(w, arguments);
  w.EndObject();
}

void write_error_object(Writer &w, const ApiError &error) {
  w.StartObject();
  write_key(w, "error");
  w.StartObject();
  write_key(w, "message");
  write_string(w, error.message);
  write_key(w, "type");
  write_string(w, error.type);
  write_key(w, "param");
  write_string_or_null(w, error.param);
  write_key(w, "code");
  write_string_or_null(w, error.code);
  w.EndObject();
  w.EndObject();
}

// The first key that appears twice in one object, anywhere in `root`. Walked with a stack of its
// own, since a body may nest a million deep.
std::optional<std::string> duplicate_key(const rapidjson::Value &root) {
  std::vector<const rapidjson::Value *> pending{&root};
  std::vector<std::string_view> keys;
  while (!pending.empty()) {
    const rapidjson::Value &value = *pending.back();
    pending.pop_back();
    if (value.IsArray()) {
      for (const auto &item : value.GetArray()) {
        if (item.IsObject() || item.IsArray()) pending.push_back(&item);
      }
    } else if (value.IsObject()) {
      keys.clear();
      for (const auto &member : value.GetObject()) {
        keys.push_back(view_of(member.name));
        if (member.value.IsObject() || member.value.IsArray()) pending.push_back(&member.value);
      }
      std::sort(keys.begin(), keys.end());
      if (auto twice = std::adjacent_find(keys.begin(), keys.end()); twice != keys.end()) return std::string(*twice);
    }
  }
  return std::nullopt;
}

std::optional<ApiError> parse_body(std::string_view body, rapidjson::Document &doc) {
  rapidjson::MemoryStream bytes(body.data(), body.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  // Iterative: a client's body nested a million deep must not exhaust the I/O thread's stack.
  // Stopping after the value lets what follows it be checked: RapidJSON would take a NUL byte
  // for the end of the input and ignore what comes after.
  constexpr unsigned flags = rapidjson::kParseIterativeFlag | rapidjson::kParseStopWhenDoneFlag;
  // RapidJSON's check of the encoding costs a third of the parse: a body that is UTF-8 as a whole
  // (nearly every one) is parsed without it, and only another one with it, for RapidJSON's error
  // and offset. Escapes are decoded the same either way.
  if (is_utf8(body))
    doc.ParseStream<flags>(stream);
  else
    doc.ParseStream<flags | rapidjson::kParseValidateEncodingFlag>(stream);
  if (doc.HasParseError()) {
    return invalid_request(
        "The request body is not valid JSON: " + std::string(rapidjson::GetParseError_En(doc.GetParseError())) +
            " (at byte " + std::to_string(doc.GetErrorOffset()) + ").",
        "", "invalid_json");
  }
  std::size_t end = stream.Tell();
  while (end < body.size() && (body[end] == ' ' || body[end] == '\t' || body[end] == '\n' || body[end] == '\r')) ++end;
  if (end != body.size()) {
    return invalid_request(
        "The request body is not valid JSON: unexpected bytes after the value (at byte " + std::to_string(end) + ").",
        "", "invalid_json");
  }
  // JavaScript and Python keep a repeated key's last value, RapidJSON its first: a body that two
  // parsers would read differently is refused rather than guessed at.
  if (auto key = duplicate_key(doc)) {
    return invalid_request(
        "The request body repeats the key \"" + printable(*key) + "\" in one object; send each key once.",
        printable(*key), "duplicate_key");
  }
  if (!doc.IsObject()) return wrong_type("body", "an object", doc);
  return std::nullopt;
}

std::optional<ApiError> read_chat_target(const rapidjson::Value &body, core::ChatSpec &spec) {
  if (auto error = read_optional_string(body, "model", spec.model)) return error;
  return read_optional_string(body, "provider", spec.provider);
}

std::optional<ApiError> read_stream(const rapidjson::Value &body, bool &stream) {
  stream = false;
  auto member = body.FindMember("stream");
  if (member == body.MemberEnd() || member->value.IsNull()) return std::nullopt;
  if (!member->value.IsBool()) return wrong_type("stream", "a boolean", member->value);
  stream = member->value.GetBool();
  return std::nullopt;
}

}  // namespace openai_json

using namespace openai_json;

std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body) {
  rapidjson::Document doc;
  if (auto error = parse_body(body, doc)) return *error;
  core::ChatSpec spec;
  if (auto error = read_chat_target(doc, spec)) return *error;

  auto messages = doc.FindMember("messages");
  if (messages == doc.MemberEnd()) {
    return invalid_request("Missing required parameter: 'messages'.", "messages", "missing_required_parameter");
  }
  std::string tool_message;
  if (auto error = read_messages(messages->value, spec.messages, tool_message)) return *error;

  if (auto error = read_stream(doc, spec.stream)) return *error;
  // Newer clients send max_completion_tokens instead of max_tokens; providers know only the latter.
  static const std::vector<OptionField> options = {{"temperature", "temperature"},
                                                   {"top_p", "top_p"},
                                                   {"max_tokens", "max_tokens"},
                                                   {"max_completion_tokens", "max_tokens"},
                                                   {"stop", "stop"}};
  if (auto error = read_options(doc, spec.options_json, options)) return *error;

  ChatRequest request;
  request.spec = std::move(spec);
  if (auto error = read_unsupported(doc, request.unsupported)) return *error;
  if (auto error = read_chat_gated(doc, request)) return *error;
  // Verbatim: a provider that honours tools gets the conversation with its tool calls and tool messages.
  if (!tool_message.empty() || !request.gated.empty())
    add_tools_messages(request, tool_message, json_text(messages->value));
  if (auto options = doc.FindMember("stream_options"); options != doc.MemberEnd() && !options->value.IsNull()) {
    if (!request.spec.stream) {
      return invalid_request("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                             "stream_options");
    }
    if (!options->value.IsObject()) return wrong_type("stream_options", "an object", options->value);
    auto include = options->value.FindMember("include_usage");
    if (include != options->value.MemberEnd() && !include->value.IsNull()) {
      if (!include->value.IsBool()) {
        return wrong_type("stream_options.include_usage", "a boolean", include->value);
      }
      request.include_usage = include->value.GetBool();
    }
  }
  return request;
}

std::optional<ApiError> route_gated_parameters(ChatRequest &request, const core::ResolveResult &candidates) {
  const bool resolved = !candidates.candidates.empty();
  core::ResolveResult remaining = candidates;
  std::vector<std::pair<std::string, std::string>> fields;
  std::optional<ApiError> refused;
  for (const GatedParameter &gate : request.gated) {
    if (resolved) {
      core::ResolveResult honouring = core::keep_declaring(remaining, {gate.capability});
      if (honouring.candidates.empty()) {
        if (gate.droppable) {
          request.unsupported.push_back(gate.name);
        } else if (!refused) {
          refused = invalid_request("'" + gate.name + "' needs a provider that honours tools, and " +
                                        provhost::one_line(honouring.error) + ".",
                                    gate.name, "unsupported_parameter");
        }
        continue;
      }
      remaining = std::move(honouring);
    }
    auto &required = request.spec.required_capabilities;
    if (std::find(required.begin(), required.end(), gate.capability) == required.end())
      required.push_back(gate.capability);
    for (const auto &field : gate.fields) {
      auto same = [&](const auto &kept) { return kept.first == field.first; };
      if (std::none_of(fields.begin(), fields.end(), same)) fields.push_back(field);
    }
  }
  request.spec.passthrough_json.clear();
  if (!fields.empty()) {
    std::string &json = request.spec.passthrough_json;
    json = "{";
    for (const auto &[name, value] : fields) {
      if (json.size() > 1) json += ',';
      json.append("\"").append(name).append("\":").append(value);
    }
    json += '}';
  }
  return refused;
}

ApiError unsupported_parameter_error(const std::vector<std::string> &unsupported) {
  const std::string &first = unsupported.front();
  return invalid_request("Unsupported parameter: '" + first +
                             "' asks for what no provider this request could go to delivers. Send the request "
                             "without it, or start provhost serve with --drop-unsupported-params to have such "
                             "parameters ignored.",
                         first, "unsupported_parameter");
}

ApiError api_error(const core::ChatError &error) {
  const core::ErrorInfo &info = core::info(error.kind);
  return ApiError{info.http_status, error.message(), std::string(info.openai_type), std::string(info.openai_param),
                  std::string(info.openai_code)};
}

std::string error_json(const ApiError &error) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write_error_object(w, error);
  return {buffer.GetString(), buffer.GetSize()};
}

CompletionIdentity new_identity(std::string model, int64_t created) {
  return CompletionIdentity{"chatcmpl-" + random_token(24), created, std::move(model), {}};
}

std::string completion_json(const CompletionIdentity &identity, std::string_view content,
                            const std::vector<ToolCall> &tool_calls, const core::AnswerSummary &summary) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  write_identity(w, identity, "chat.completion");
  write_key(w, "choices");
  w.StartArray();
  w.StartObject();
  write_key(w, "index");
  w.Int(0);
  write_key(w, "message");
  w.StartObject();
  write_key(w, "role");
  write_string(w, "assistant");
  write_key(w, "content");
  if (content.empty() && !tool_calls.empty()) {
    w.Null();  // as OpenAI answers a turn that only calls tools
  } else {
    write_string(w, content);
  }
  if (!tool_calls.empty()) {
    write_key(w, "tool_calls");
    w.StartArray();
    for (const ToolCall &call : tool_calls) {
      w.StartObject();
      write_tool_call_head(w, call.id, call.name, call.arguments);
      w.EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  write_key(w, "logprobs");
  w.Null();
  write_key(w, "finish_reason");
  write_string(w, core::to_string(summary.finish_reason));
  w.EndObject();
  w.EndArray();
  write_usage(w, summary.usage);
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::string role_event(const CompletionIdentity &identity) {
  return chunk_event(identity, [](Writer &w) {
    write_key(w, "role");
    write_string(w, "assistant");
    write_key(w, "content");
    write_string(w, "");
  });
}

std::string text_event(const CompletionIdentity &identity, std::string_view text) {
  return chunk_event(identity, [&](Writer &w) {
    write_key(w, "content");
    write_string(w, text);
  });
}

std::string tool_call_event(const CompletionIdentity &identity, const core::ToolCallDelta &piece, bool first) {
  return chunk_event(identity, [&](Writer &w) {
    write_key(w, "tool_calls");
    w.StartArray();
    w.StartObject();
    write_key(w, "index");
    w.Uint(piece.index);
    if (first) {
      write_tool_call_head(w, piece.id, piece.name, piece.arguments);
    } else {
      write_key(w, "function");
      w.StartObject();
      write_key(w, "arguments");
      write_string(w, piece.arguments);
      w.EndObject();
    }
    w.EndObject();
    w.EndArray();
  });
}

std::string finish_event(const CompletionIdentity &identity, core::FinishReason reason) {
  return chunk_event(
      identity, [](Writer &) {}, core::to_string(reason));
}

std::string usage_event(const CompletionIdentity &identity, const core::Usage &usage) {
  return chunk_object(
      identity, [](Writer &) {}, [&](Writer &w) { write_usage(w, usage); });
}

void ToolCalls::add(const core::ToolCallDelta &piece) {
  auto [at, added] = by_index_.try_emplace(piece.index, calls_.size());
  if (added) {
    calls_.push_back({piece.index, piece.id, piece.name, piece.arguments});
    return;
  }
  ToolCall &call = calls_[at->second];
  if (call.id.empty()) call.id = piece.id;
  if (call.name.empty()) call.name = piece.name;
  call.arguments += piece.arguments;
}

std::string error_event(const ApiError &error) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  write_error_object(w, error);
  return event_of(buffer);
}

namespace {

class ChatCompletionFormat final : public AnswerFormat {
 public:
  explicit ChatCompletionFormat(bool include_usage) : include_usage_(include_usage) {}

  const char *endpoint() const override { return "chat.completions"; }

  std::string stream_start(const CompletionIdentity &identity) override { return role_event(identity); }
  std::string stream_text(const CompletionIdentity &identity, std::string_view text) override {
    return text_event(identity, text);
  }
  std::string stream_tool_call(const CompletionIdentity &identity, const core::ToolCallDelta &piece) override {
    if (!begun_.insert(piece.index).second) return tool_call_event(identity, piece, false);
    if (!piece.id.empty()) return tool_call_event(identity, piece, true);
    core::ToolCallDelta named = piece;
    named.id = tool_call_id_or_new(piece.id);
    return tool_call_event(identity, named, true);
  }
  std::string stream_end(const CompletionIdentity &identity, const core::AnswerSummary &summary) override {
    std::string events = finish_event(identity, summary.finish_reason);
    if (include_usage_) events += usage_event(identity, summary.usage);
    return events.append(done_event);
  }
  std::string stream_error(const CompletionIdentity &, const ApiError &error) override {
    return error_event(error).append(done_event);
  }
  bool streams_usage() const override { return include_usage_; }
  std::string whole(const CompletionIdentity &identity, std::string_view content,
                    const std::vector<ToolCall> &tool_calls, const core::AnswerSummary &summary) override {
    std::vector<ToolCall> calls = tool_calls;
    for (ToolCall &call : calls) call.id = tool_call_id_or_new(call.id);
    return completion_json(identity, content, calls, summary);
  }

 private:
  const bool include_usage_;
  std::set<uint32_t> begun_;  // the indices of the tool calls streamed so far
};

}  // namespace

std::unique_ptr<AnswerFormat> chat_completion_format(bool include_usage) {
  return std::make_unique<ChatCompletionFormat>(include_usage);
}

void write_model(Writer &w, const core::ModelEntry &model, int64_t created) {
  w.StartObject();
  write_key(w, "id");
  write_string(w, model.id);
  write_key(w, "object");
  write_string(w, "model");
  write_key(w, "created");
  w.Int64(created);
  write_key(w, "owned_by");
  write_string(w, model.owner);
  w.EndObject();
}

std::string models_json(const std::vector<core::ModelEntry> &models, int64_t created) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  write_key(w, "object");
  write_string(w, "list");
  write_key(w, "data");
  w.StartArray();
  for (const auto &model : models) write_model(w, model, created);
  w.EndArray();
  w.EndObject();
  return {buffer.GetString(), buffer.GetSize()};
}

std::map<std::string, std::string, std::less<>> model_objects(const std::vector<core::ModelEntry> &models,
                                                              int64_t created) {
  std::map<std::string, std::string, std::less<>> objects;
  for (const auto &model : models) {
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    write_model(w, model, created);
    objects.emplace(model.id, std::string(buffer.GetString(), buffer.GetSize()));
  }
  return objects;
}

ApiError model_not_found_error(std::string_view id) {
  return ApiError{404, "The model '" + provhost::one_line(id) + "' does not exist", "invalid_request_error", "model",
                  "model_not_found"};
}

}  // namespace provhost::serve
