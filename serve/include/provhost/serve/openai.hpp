// openai.hpp: OpenAI's chat-completions wire format as pure functions: reading a request,
// writing completions, stream chunks, model lists and errors. The server (server.hpp) does the
// I/O; everything a client parses is built here, so it is tested without a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <provhost/core/catalogue.hpp>
#include <provhost/core/chat.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace provhost::serve {

// An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}} with its HTTP status.
struct ApiError {
  int status = 500;
  std::string message;
  std::string type = "server_error";
  std::string param;  // "" is sent as null
  std::string code;   // "" is sent as null
};

// A parameter that only providers declaring `capability` honour (tools, response_format json_object/json_schema,
// tool messages): the request goes only to such providers, which get `fields` in ChatSpec::passthrough_json.
struct GatedParameter {
  std::string name;        // as a 400 names it: "tools", "response_format", "messages[2].role"
  std::string capability;  // PH_CAP_PARAM_TOOLS, PH_CAP_PARAM_RESPONSE_FORMAT
  // The passthrough_json members it brings, in OpenAI's chat-completions shape: name, JSON text.
  std::vector<std::pair<std::string, std::string>> fields;
  // --drop-unsupported-params may ignore it; a message of the conversation cannot be left out.
  bool droppable = true;
};

// A chat-completions request: what the engine runs, and how the answer is to be written.
struct ChatRequest {
  core::ChatSpec spec;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
  // Parameters given that change the answer in ways no provider here delivers and the host cannot
  // provide (n > 1, logprobs, response_format other than text, audio, and the gated ones no candidate
  // honours), in the order of the body. Answering without them silently would be wrong: see
  // unsupported_parameter_error().
  std::vector<std::string> unsupported;
  std::vector<GatedParameter> gated;  // in the order of the body, messages last
};

// The providers a request for (provider, model) could go to, in the order they would be tried: the engine's
// own resolution (core::Registry::resolve), so that serve decides on the candidates the engine will try.
using ResolveCandidates = std::function<core::ResolveResult(std::string_view provider, std::string_view model)>;

// Sends each gated parameter only where it is honoured: keeps the candidates that declare its capability
// (core::keep_declaring) and requires that capability of the chat (ChatSpec::required_capabilities), with its
// fields in ChatSpec::passthrough_json. A droppable parameter no remaining candidate honours joins
// `request.unsupported`; a message none honours is the 400 returned. A resolution that failed (unknown model)
// decides nothing: every gated parameter is required, and the engine answers why the model cannot be had.
std::optional<ApiError> route_gated_parameters(ChatRequest &request, const core::ResolveResult &candidates);

// A chat-completions request body turned into a ChatRequest, or the 400 saying why it cannot be.
// Fields that do not change the answer (user, seed, metadata, ...) are accepted and ignored.
std::variant<ChatRequest, ApiError> parse_chat_request(std::string_view body);

// The 400 for a request with unsupported parameters, naming the first, as OpenAI does.
ApiError unsupported_parameter_error(const std::vector<std::string> &unsupported);

// The status and OpenAI error type/code for a chat that failed.
ApiError api_error(const core::ChatError &error);

std::string error_json(const ApiError &error);

// What every chunk of one answer shares, and what a complete answer repeats.
struct CompletionIdentity {
  std::string id;  // "chatcmpl-..."
  int64_t created = 0;
  std::string model;
  std::string provider;  // sent as an extra "provider" field; "" leaves it out
};

CompletionIdentity new_identity(std::string model, int64_t created);

// One tool call of an answer, its pieces (core::ToolCallDelta) put together.
struct ToolCall {
  uint32_t index = 0;  // the upstream's index of the call
  std::string id;
  std::string name;
  std::string arguments;
};
// The tool calls of one answer, put together from their pieces, in the order they began.
class ToolCalls {
 public:
  // Adds a piece to the call of its index (a new call for a new index).
  void add(const core::ToolCallDelta &piece);
  const std::vector<ToolCall> &calls() const { return calls_; }

 private:
  std::vector<ToolCall> calls_;
  std::map<uint32_t, std::size_t> by_index_;  // a hostile plugin may send many: no scan per piece
};

// A whole non-streaming answer: object "chat.completion", with finish_reason and usage; with tool calls,
// message.tool_calls (and content null when there is no text).
std::string completion_json(const CompletionIdentity &identity, std::string_view content,
                            const std::vector<ToolCall> &tool_calls, const core::AnswerSummary &summary);

// Server-sent events of a streaming answer, each "data: {...}\n\n" with object "chat.completion.chunk".
std::string role_event(const CompletionIdentity &identity);  // delta {role: "assistant", content: ""}
std::string text_event(const CompletionIdentity &identity, std::string_view text);
// delta.tool_calls: a call's first piece with its id, type "function" and function.name, later ones with
// function.arguments only. `first`: this is the first piece of its call.
std::string tool_call_event(const CompletionIdentity &identity, const core::ToolCallDelta &piece, bool first);
std::string finish_event(const CompletionIdentity &identity, core::FinishReason reason);  // empty delta
// The last chunk when the client asked for usage: no choices, and "usage".
std::string usage_event(const CompletionIdentity &identity, const core::Usage &usage);
std::string error_event(const ApiError &error);  // an error after the stream began
inline constexpr std::string_view done_event = "data: [DONE]\n\n";

// GET /v1/models: the catalogue's models (core::model_catalogue) as OpenAI's model list.
std::string models_json(const std::vector<core::ModelEntry> &models, int64_t created);

// GET /v1/models/{id}: each model's object, by id.
std::map<std::string, std::string, std::less<>> model_objects(const std::vector<core::ModelEntry> &models,
                                                              int64_t created);

// The 404 for a model id that no provider here serves, as OpenAI words it.
ApiError model_not_found_error(std::string_view id);

}  // namespace provhost::serve
