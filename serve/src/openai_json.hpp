// openai_json.hpp: the pieces of OpenAI's JSON that both wire formats share (chat completions in
// openai.cpp, the Responses API in responses.cpp): reading messages, content and sampling
// parameters with OpenAI's error messages, and writing strings, errors and ids.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <optional>
#include <provhost/serve/openai.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve::openai_json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(Writer &w, std::string_view s);
void write_key(Writer &w, std::string_view key);
void write_string_or_null(Writer &w, std::string_view s);
void write_error_object(Writer &w, const ApiError &error);  // {"error": {...}}

std::string_view view_of(const rapidjson::Value &v);  // a string value
std::string json_text(const rapidjson::Value &v);     // any value as compact JSON
ApiError invalid_request(std::string message, std::string param, std::string code = {});
ApiError wrong_type(const std::string &param, std::string_view expected, const rapidjson::Value &got);

// A request body: a JSON object, read iteratively (a body nested a million deep must not exhaust the
// I/O thread's stack), or the 400 saying why not.
std::optional<ApiError> parse_body(std::string_view body, rapidjson::Document &doc);
// "model" and the extra "provider" field.
std::optional<ApiError> read_chat_target(const rapidjson::Value &body, core::ChatSpec &spec);
// "stream": a boolean, false when absent or null.
std::optional<ApiError> read_stream(const rapidjson::Value &body, bool &stream);

// "system" for system and developer, "user", "assistant"; false for any other role.
bool normalise_role(std::string_view role, std::string &out);
// A string, null, or an array of parts whose type is one of `text_types`, joined by newlines.
std::optional<ApiError> read_content(const rapidjson::Value &content, const std::string &param, std::string &out,
                                     const std::vector<std::string_view> &text_types = {"text"});
std::optional<ApiError> read_optional_string(const rapidjson::Value &body, const char *name, std::string &out);
// {"role", "content"}: `param` names it in errors ("messages[2]"); content as read_content reads it.
// Only an assistant message may come without content (a turn that only called tools).
std::optional<ApiError> read_message(const rapidjson::Value &m, const std::string &param, core::Message &message,
                                     const std::vector<std::string_view> &text_types = {"text"});

// A request field that is a request option of core/request_options.hpp under the option's name.
struct OptionField {
  const char *body_name;
  std::string_view option;
};
// The fields given (not null), checked for the option's type, as the options object for the
// provider; of two fields for one option the first in `fields` wins.
std::optional<ApiError> read_options(const rapidjson::Value &body, std::string &options_json,
                                     const std::vector<OptionField> &fields);
// The conversation in chat-completions shape (`messages_json`) joins every gate of param:tools, and a message
// only such a provider can take (`tool_message`, its param; "" for none) gates the request on it, never dropped.
void add_tools_messages(ChatRequest &request, const std::string &tool_message, const std::string &messages_json);

// A tool call's id as the upstream gave it, or a new "call_..." when it gave none: clients match a tool's
// answer to its call by this id.
std::string tool_call_id_or_new(std::string_view id);

// See ChatRequest::unsupported.
std::optional<ApiError> read_unsupported(const rapidjson::Value &body, std::vector<std::string> &unsupported);

}  // namespace provhost::serve::openai_json
