// answer_shaper.hpp: the sink every chat's events go through first. It applies the request's
// `stop` strings and `max_tokens` (see ChatSink in chat.hpp), counts usage, and tells the user's
// sink why the answer ended. Providers differ in what their upstreams honour; this makes `stop`,
// `max_tokens` and usage mean the same on all of them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/tokens.hpp>
#include <string>
#include <vector>

namespace provhost::core::engine {

class AnswerShaper final : public ChatSink {
 public:
  // Reads stop and max_tokens from spec.options_json (checked already by the front ends; values
  // of another type are ignored here).
  AnswerShaper(const ChatSpec &spec, std::shared_ptr<ChatSink> sink, const Registry &registry);

  // The chat to cancel when the answer ends early; set before the chat starts. (A handle knows
  // its chat only weakly: holding it keeps nothing alive.)
  void attach(std::shared_ptr<ChatHandle> handle) { handle_ = std::move(handle); }

  void on_start(const std::string &provider, const std::string &model) override;
  void on_text(std::string_view text) override;
  void on_warning(const std::string &provider, std::string_view message) override;
  void on_setback(const Setback &setback) override;
  void on_tool_call(const ToolCallDelta &call) override;
  void on_upstream_report(const UpstreamReport &report) override;
  void on_done() override;
  void on_error(const ChatError &error) override;

 private:
  void emit(std::string_view text);  // to the sink, within max_tokens
  void end(FinishReason reason);     // the sink hears the end now; the upstream is cancelled
  void end_early(FinishReason reason);

  std::shared_ptr<ChatSink> sink_;
  const Registry &registry_;
  std::shared_ptr<ChatHandle> handle_;
  std::vector<std::string> stops_;
  size_t held_back_ = 0;  // bytes of text kept until a stop string can no longer start in them
  std::optional<uint64_t> max_tokens_;
  bool limit_tokens_ = false;  // max_tokens given and the answering provider does not count them
  bool count_tokens_ = true;   // the completion's tokens are estimated: for the sink's usage, or max_tokens
  std::string pending_;        // text not yet given to the sink, while stop strings are looked for
  TokenEstimator completion_;
  uint64_t prompt_tokens_;
  bool ended_ = false;
  bool called_tools_ = false;
  bool cut_short_ = false;                // ended here (a stop string, max_tokens), not by the upstream
  std::optional<UpstreamReport> report_;  // the upstream's own counts and finish reason
};

}  // namespace provhost::core::engine
