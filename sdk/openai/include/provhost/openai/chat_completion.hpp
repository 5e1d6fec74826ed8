// chat_completion.hpp: OpenAI's chat-completions protocol for a provider whose upstream speaks it exactly (the
// OpenAICompatible plugin, or any third party's): the request body, and a reader of the answer, streamed or
// whole, that reports everything the protocol carries: text, tool calls, the finish reason and the usage.
//
// The reader uses RapidJSON on every chunk, which is slower than openai_chunks.hpp's fast path but reads the
// whole chunk: finish_reason, usage and tool_calls too. An error object in a 2xx answer fails the session
// (upstream); an HTTP error status is left to the host (Session's default on_response_start), which reads
// OpenAI's error body and Retry-After itself.
#pragma once

#include <cstdint>
#include <optional>
#include <provhost/framing.hpp>
#include <provhost/openai/json.hpp>
#include <provhost/openai/openai_stream.hpp>
#include <provhost/provider.hpp>
#include <string>
#include <string_view>

namespace provhost::openai {

// The request fields of options_json that go upstream as they are (the host checked their types).
inline constexpr const char *forwarded_options[] = {"temperature", "top_p", "max_tokens",       "max_completion_tokens",
                                                    "stop",        "seed",  "presence_penalty", "frequency_penalty"};
// The fields of passthrough_json (ABI 1.1) that go upstream as they are; `messages` replaces the plain ones.
inline constexpr const char *forwarded_passthrough[] = {"tools", "tool_choice", "parallel_tool_calls",
                                                        "response_format"};

// The body of POST {base}/chat/completions for `request`, asking for `model`. A streamed answer asks for the
// usage chunk (stream_options.include_usage), which upstreams that do not know it ignore.
inline std::string chat_request_body(const ChatRequest &request, std::string_view model) {
  rapidjson::Document body(rapidjson::kObjectType);
  auto &allocator = body.GetAllocator();
  const rapidjson::Document options = parse_options(request.options_json);
  const rapidjson::Document passthrough = parse_options(request.passthrough_json);
  body.AddMember("model", json_string(model, allocator), allocator);
  auto messages = passthrough.FindMember("messages");
  if (messages != passthrough.MemberEnd() && messages->value.IsArray()) {
    body.AddMember("messages", rapidjson::Value(messages->value, allocator), allocator);
  } else {
    body.AddMember("messages", messages_array(request.messages, allocator), allocator);
  }
  body.AddMember("stream", request.stream, allocator);
  if (request.stream) {
    rapidjson::Value stream_options(rapidjson::kObjectType);
    stream_options.AddMember("include_usage", true, allocator);
    body.AddMember("stream_options", stream_options, allocator);
  }
  auto copy = [&](const rapidjson::Document &from, const char *field) {
    auto found = from.FindMember(field);
    if (found == from.MemberEnd() || body.HasMember(field)) return;
    body.AddMember(rapidjson::StringRef(field), rapidjson::Value(found->value, allocator), allocator);
  };
  for (const char *field : forwarded_options) copy(options, field);
  for (const char *field : forwarded_passthrough) copy(passthrough, field);
  return to_json(body);
}

// Reads one chat-completions answer: server-sent chat.completion.chunk events ended by [DONE] when streamed,
// else one chat.completion object. Response bytes, split anywhere, go to feed(); the response's end to finish().
class ChatCompletionReader {
 public:
  // An answer kept whole (not streamed) is read at its end; past this size it is refused, not buffered.
  static constexpr size_t max_whole_answer = 64 * 1024 * 1024;

  explicit ChatCompletionReader(bool stream) : stream_(stream) {}

  void feed(std::string_view bytes, Events &events) {
    if (!stream_) {
      if (bytes.size() > max_whole_answer - whole_.size())
        throw ProviderError(Failure::protocol,
                            "the answer is larger than " + std::to_string(max_whole_answer) + " bytes");
      whole_.append(bytes);
      return;
    }
    lines_.feed(bytes, [&](std::string_view line) { read_line(line, events); });
  }

  // Without [DONE], a stream stays unfinished, which the host reports as truncated.
  void finish(Events &events) {
    if (stream_) return lines_.finish([&](std::string_view line) { read_line(line, events); });
    rapidjson::Document document;
    if (!parse_json(whole_, document)) {
      if (ended_early(document, whole_)) throw ProviderError(Failure::truncated, "the answer was cut short");
      throw ProviderError(Failure::protocol, "the answer is not JSON: " + excerpt(whole_));
    }
    throw_if_error(document);
    if (!read_choice(document, "message", events))
      throw ProviderError(Failure::protocol, "the answer has no choices[0].message: " + excerpt(whole_));
    end(events);
  }

 private:
  void read_line(std::string_view line, Events &events) {
    std::string_view data;
    if (events.finished() || !strip_prefix(line, "data:", data)) return;
    if (!data.empty() && data.front() == ' ') data.remove_prefix(1);
    if (is_done_marker(data)) return end(events);
    rapidjson::Document chunk;
    if (!parse_json(data, chunk)) return events.warning("skipped undecodable data: " + excerpt(data));
    throw_if_error(chunk);
    read_usage(chunk);
    auto choices = chunk.FindMember("choices");
    // The usage chunk has no choices; any other chunk without choices[0].delta is noise worth a word.
    if (choices != chunk.MemberEnd() && choices->value.IsArray() && choices->value.Empty()) return;
    if (!read_choice(chunk, "delta", events)) events.warning("skipped data without choices[0]: " + excerpt(data));
  }

  // choices[0].<part> of a chunk ("delta") or of a whole answer ("message"): its text, tool calls and finish
  // reason. False when there is no such object.
  bool read_choice(const rapidjson::Value &document, const char *part, Events &events) {
    read_usage(document);
    auto choices = document.FindMember("choices");
    if (choices == document.MemberEnd() || !choices->value.IsArray() || choices->value.Empty() ||
        !choices->value[0].IsObject())
      return false;
    const rapidjson::Value &choice = choices->value[0];
    auto reason = choice.FindMember("finish_reason");
    if (reason != choice.MemberEnd())
      if (auto text = utf8_text(reason->value)) finish_reason_ = std::string(*text);
    auto content = choice.FindMember(part);
    if (content == choice.MemberEnd() || !content->value.IsObject()) return false;
    auto text = content->value.FindMember("content");
    if (text != content->value.MemberEnd() && text->value.IsString()) {
      std::optional<std::string_view> utf8 = utf8_text(text->value);
      if (!utf8) throw ProviderError(Failure::protocol, "the answer's text is not UTF-8");
      events.text(*utf8);
    }
    auto calls = content->value.FindMember("tool_calls");
    if (calls != content->value.MemberEnd() && calls->value.IsArray()) {
      for (const rapidjson::Value &call : calls->value.GetArray()) read_tool_call(call, events);
    }
    return true;
  }

  void read_tool_call(const rapidjson::Value &call, Events &events) {
    if (!call.IsObject()) return;
    if (!events.takes_tool_calls())
      throw ProviderError(Failure::bad_request, "the model called a tool, which this host cannot pass on");
    ToolCallPiece piece;
    // A whole answer's calls carry no index: their place in the array is it.
    auto index = call.FindMember("index");
    piece.index = index != call.MemberEnd() && index->value.IsUint() ? index->value.GetUint() : next_index_;
    next_index_ = piece.index + 1;
    piece.id = string_member(call, "id");
    auto function = call.FindMember("function");
    if (function != call.MemberEnd() && function->value.IsObject()) {
      piece.name = string_member(function->value, "name");
      piece.arguments = string_member(function->value, "arguments");
    }
    events.tool_call(piece);
  }

  void read_usage(const rapidjson::Value &document) {
    auto usage = document.FindMember("usage");
    if (usage == document.MemberEnd() || !usage->value.IsObject()) return;
    prompt_tokens_ = count_member(usage->value, "prompt_tokens");
    completion_tokens_ = count_member(usage->value, "completion_tokens");
  }

  void end(Events &events) {
    events.answer_info(prompt_tokens_, completion_tokens_, finish_reason_);
    events.finish();
  }

  static std::string_view string_member(const rapidjson::Value &object, const char *name) {
    auto found = object.FindMember(name);
    if (found == object.MemberEnd()) return {};
    return utf8_text(found->value).value_or(std::string_view());
  }

  static int64_t count_member(const rapidjson::Value &object, const char *name) {
    auto found = object.FindMember(name);
    if (found == object.MemberEnd() || !found->value.IsUint()) return -1;
    return found->value.GetUint();
  }

  bool stream_;
  LineFramer lines_;
  std::string whole_;
  std::string finish_reason_;
  int64_t prompt_tokens_ = -1;
  int64_t completion_tokens_ = -1;
  uint32_t next_index_ = 0;
};

}  // namespace provhost::openai
