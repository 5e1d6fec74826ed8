#include <provhost/core/request_options.hpp>
#include <provhost/serve/ids.hpp>
#include <provhost/serve/responses.hpp>

#include "openai_json.hpp"

namespace provhost::serve {

using namespace openai_json;

namespace {

std::optional<ApiError> read_input_items(const rapidjson::Value &input, std::vector<core::Message> &out) {
  if (input.IsString()) {
    out.push_back({"user", std::string(view_of(input))});
    return std::nullopt;
  }
  if (!input.IsArray()) return wrong_type("input", "a string or an array of items", input);
  if (input.Empty()) return invalid_request("'input' must contain at least one item.", "input");
  static const std::vector<std::string_view> text_parts = {"input_text", "output_text", "text"};
  for (rapidjson::SizeType i = 0; i < input.Size(); ++i) {
    const auto &item = input[i];
    const std::string param = "input[" + std::to_string(i) + "]";
    if (!item.IsObject()) return wrong_type(param, "an object", item);
    if (auto type = item.FindMember("type"); type != item.MemberEnd()) {
      if (!type->value.IsString() || view_of(type->value) != "message") {
        return invalid_request(
            "Only message items are supported in 'input' ('" + param + ".type' must be \"message\").", param + ".type",
            "unsupported_parameter");
      }
    }
    core::Message message;
    if (auto error = read_message(item, param, message, text_parts)) return error;
    out.push_back(std::move(message));
  }
  return std::nullopt;
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
  if (auto text = body.FindMember("text"); text != body.MemberEnd() && text->value.IsObject()) {
    auto format = text->value.FindMember("format");
    if (format != text->value.MemberEnd() && format->value.IsObject()) {
      auto type = format->value.FindMember("type");
      if (type == format->value.MemberEnd() || !type->value.IsString() || view_of(type->value) != "text") {
        unsupported.emplace_back("text.format");
      }
    }
  }
}

// The response object: in progress (no output yet), completed, incomplete (max_output_tokens) or
// failed.
enum class Status { in_progress, completed, incomplete, failed };

class ResponsesFormat final : public AnswerFormat {
 public:
  ResponsesFormat() : response_id_("resp_" + random_token(24)), message_id_("msg_" + random_token(24)) {}

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
    events += event("response.output_item.added", [&](Writer &w) {
      write_key(w, "output_index");
      w.Int(0);
      write_key(w, "item");
      write_message(w, Status::in_progress);
    });
    events += event("response.content_part.added", [&](Writer &w) {
      write_part_position(w);
      write_key(w, "part");
      write_text_part(w, "");
    });
    return events;
  }

  std::string stream_text(const CompletionIdentity &, std::string_view text) override {
    text_.append(text);
    return event("response.output_text.delta", [&](Writer &w) {
      write_part_position(w);
      write_key(w, "delta");
      write_string(w, text);
      write_key(w, "logprobs");
      w.StartArray();
      w.EndArray();
    });
  }

  std::string stream_end(const CompletionIdentity &identity, const core::AnswerSummary &summary) override {
    summary_ = summary;
    Status status = summary.finish_reason == core::FinishReason::length ? Status::incomplete : Status::completed;
    std::string events = event("response.output_text.done", [&](Writer &w) {
      write_part_position(w);
      write_key(w, "text");
      write_string(w, text_);
      write_key(w, "logprobs");
      w.StartArray();
      w.EndArray();
    });
    events += event("response.content_part.done", [&](Writer &w) {
      write_part_position(w);
      write_key(w, "part");
      write_text_part(w, text_);
    });
    events += event("response.output_item.done", [&](Writer &w) {
      write_key(w, "output_index");
      w.Int(0);
      write_key(w, "item");
      write_message(w, status);
    });
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
                    const core::AnswerSummary &summary) override {
    text_.assign(content);
    summary_ = summary;
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    write_response(w, identity,
                   summary.finish_reason == core::FinishReason::length ? Status::incomplete : Status::completed);
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

  void write_part_position(Writer &w) const {
    write_key(w, "item_id");
    write_string(w, message_id_);
    write_key(w, "output_index");
    w.Int(0);
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

  void write_message(Writer &w, Status status) const {
    w.StartObject();
    write_key(w, "id");
    write_string(w, message_id_);
    write_key(w, "type");
    write_string(w, "message");
    write_key(w, "status");
    write_string(w, status == Status::in_progress ? "in_progress"
                    : status == Status::completed ? "completed"
                                                  : "incomplete");
    write_key(w, "role");
    write_string(w, "assistant");
    write_key(w, "content");
    w.StartArray();
    if (status != Status::in_progress) write_text_part(w, text_);
    w.EndArray();
    w.EndObject();
  }

  void write_response(Writer &w, const CompletionIdentity &identity, Status status) const {
    static constexpr const char *status_names[] = {"in_progress", "completed", "incomplete", "failed"};
    w.StartObject();
    write_key(w, "id");
    write_string(w, response_id_);
    write_key(w, "object");
    write_string(w, "response");
    write_key(w, "created_at");
    w.Int64(identity.created);
    write_key(w, "status");
    write_string(w, status_names[static_cast<int>(status)]);
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
    if (status == Status::completed || status == Status::incomplete) write_message(w, status);
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

  const std::string response_id_, message_id_;
  uint64_t sequence_number_ = 0;
  std::string text_;  // the answer so far: the closing events repeat it whole
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
  if (!instructions.empty()) spec.messages.push_back({"system", std::move(instructions)});

  auto input = doc.FindMember("input");
  if (input == doc.MemberEnd() || input->value.IsNull()) {
    return invalid_request("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  }
  if (auto error = read_input_items(input->value, spec.messages)) return *error;

  if (auto error = read_stream(doc, spec.stream)) return *error;
  static const std::vector<OptionField> options = {
      {"temperature", "temperature"}, {"top_p", "top_p"}, {"max_output_tokens", "max_tokens"}};
  if (auto error = read_options(doc, spec.options_json, options)) return *error;
  if (auto error = read_unsupported(doc, request.unsupported)) return *error;
  read_unsupported_responses(doc, request.unsupported);
  return request;
}

std::unique_ptr<AnswerFormat> responses_format() { return std::make_unique<ResponsesFormat>(); }

}  // namespace provhost::serve
