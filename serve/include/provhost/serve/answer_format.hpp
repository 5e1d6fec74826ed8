// answer_format.hpp: how one answer is written for the endpoint that asked for it. The chat bridge
// (chat_bridge.hpp) does the I/O and the timing (a stream starts only with the first text, so an
// error before it keeps its status); a format turns the pieces into bytes: OpenAI's chat
// completions (openai.hpp) or its Responses API (responses.hpp).
#pragma once

#include <memory>
#include <provhost/core/chat.hpp>
#include <provhost/serve/openai.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::serve {

class AnswerFormat {
 public:
  virtual ~AnswerFormat() = default;

  // The endpoint, for metrics: "chat.completions", "responses".
  virtual const char *endpoint() const = 0;

  // A streamed answer, as server-sent events: what opens it, each text, how it ends, and an error
  // after it began (the status line has gone out; the error travels inside the stream).
  virtual std::string stream_start(const CompletionIdentity &identity) = 0;
  virtual std::string stream_text(const CompletionIdentity &identity, std::string_view text) = 0;
  virtual std::string stream_tool_call(const CompletionIdentity &identity, const core::ToolCallDelta &piece) = 0;
  virtual std::string stream_end(const CompletionIdentity &identity, const core::AnswerSummary &summary) = 0;
  virtual std::string stream_error(const CompletionIdentity &identity, const ApiError &error) = 0;

  // Whether a streamed answer carries its usage (a whole one always does). A chat whose answer does not is
  // not counted in tokens: the engine's estimate looks at every byte of the text.
  virtual bool streams_usage() const { return true; }

  // A whole answer as one JSON body.
  virtual std::string whole(const CompletionIdentity &identity, std::string_view content,
                            const std::vector<ToolCall> &tool_calls, const core::AnswerSummary &summary) = 0;
};

// chat.completion / chat.completion.chunk; `include_usage`: a last chunk with the usage.
std::unique_ptr<AnswerFormat> chat_completion_format(bool include_usage);

}  // namespace provhost::serve
