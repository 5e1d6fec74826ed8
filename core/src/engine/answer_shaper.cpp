#include "answer_shaper.hpp"

#include <provhost/provhost.h>
#include <rapidjson/document.h>

#include <algorithm>

namespace provhost::core {

const char *to_string(FinishReason reason) {
  switch (reason) {
    case FinishReason::length:
      return "length";
    case FinishReason::tool_calls:
      return "tool_calls";
    case FinishReason::content_filter:
      return "content_filter";
    default:
      return "stop";
  }
}

std::optional<FinishReason> finish_reason_named(std::string_view name) {
  for (FinishReason reason :
       {FinishReason::stop, FinishReason::length, FinishReason::tool_calls, FinishReason::content_filter}) {
    if (name == to_string(reason)) return reason;
  }
  return std::nullopt;
}

namespace engine {
namespace {

// The first byte at or before `at` that starts a UTF-8 character, so that text handed on is
// never cut inside one.
size_t character_start(std::string_view text, size_t at) {
  while (at > 0 && at < text.size() && (static_cast<unsigned char>(text[at]) & 0xC0) == 0x80) --at;
  return at;
}

}  // namespace

AnswerShaper::AnswerShaper(const ChatSpec &spec, std::shared_ptr<ChatSink> sink, const Registry &registry)
    : sink_(std::move(sink)), registry_(registry), prompt_tokens_(estimate_prompt_tokens(spec.messages)) {
  rapidjson::Document options;
  options.Parse<rapidjson::kParseIterativeFlag>(spec.options_json.data(), spec.options_json.size());
  if (options.HasParseError() || !options.IsObject()) return;
  if (auto stop = options.FindMember("stop"); stop != options.MemberEnd()) {
    auto add = [this](const rapidjson::Value &value) {
      if (value.IsString() && value.GetStringLength() > 0)
        stops_.emplace_back(value.GetString(), value.GetStringLength());
    };
    if (stop->value.IsArray()) {
      for (const auto &item : stop->value.GetArray()) add(item);
    } else {
      add(stop->value);
    }
  }
  for (const std::string &stop : stops_) held_back_ = std::max(held_back_, stop.size() - 1);
  if (auto max = options.FindMember("max_tokens"); max != options.MemberEnd() && max->value.IsUint64()) {
    max_tokens_ = max->value.GetUint64();
  }
}

void AnswerShaper::on_start(const std::string &provider, const std::string &model) {
  ProviderPtr answering = registry_.find(provider);
  limit_tokens_ = max_tokens_ && !(answering && answering->meta.has_capability(PH_CAP_PARAM_MAX_TOKENS));
  count_tokens_ = limit_tokens_ || sink_->reads_usage();
  sink_->on_start(provider, model);
}

void AnswerShaper::on_text(std::string_view text) {
  if (ended_) return;
  if (stops_.empty()) return emit(text);
  // A stop string may have begun in the text held back: look from there.
  size_t look_from = pending_.size() > held_back_ ? pending_.size() - held_back_ : 0;
  pending_.append(text);
  size_t first_stop = std::string::npos;
  for (const std::string &stop : stops_) first_stop = std::min(first_stop, pending_.find(stop, look_from));
  if (first_stop != std::string::npos) {
    emit(std::string_view(pending_).substr(0, first_stop));
    return end_early(FinishReason::stop);
  }
  size_t safe = pending_.size() > held_back_ ? character_start(pending_, pending_.size() - held_back_) : 0;
  emit(std::string_view(pending_).substr(0, safe));
  pending_.erase(0, safe);
}

void AnswerShaper::on_warning(const std::string &provider, std::string_view message) {
  if (!ended_) sink_->on_warning(provider, message);
}

void AnswerShaper::on_setback(const Setback &setback) {
  if (!ended_) sink_->on_setback(setback);
}

void AnswerShaper::on_tool_call(const ToolCallDelta &call) {
  if (ended_) return;
  called_tools_ = true;
  sink_->on_tool_call(call);
}

void AnswerShaper::on_upstream_report(const UpstreamReport &report) { report_ = report; }

void AnswerShaper::on_done() {
  emit(pending_);
  if (!ended_) {
    // The upstream ended its answer itself: its own reason counts, else a tool call says what it was.
    std::optional<FinishReason> reason = report_ ? finish_reason_named(report_->finish_reason) : std::nullopt;
    end(reason.value_or(called_tools_ ? FinishReason::tool_calls : FinishReason::stop));
  }
  handle_.reset();
}

void AnswerShaper::on_error(const ChatError &error) {
  handle_.reset();
  if (ended_) return;  // the cancellation that follows an early end
  ended_ = true;
  sink_->on_error(error);
}

void AnswerShaper::emit(std::string_view text) {
  if (ended_ || text.empty()) return;
  const size_t counted =
      count_tokens_ ? completion_.feed(text, limit_tokens_ ? *max_tokens_ : UINT64_MAX) : text.size();
  if (counted > 0) sink_->on_text(text.substr(0, counted));
  if (counted < text.size()) end_early(FinishReason::length);
}

void AnswerShaper::end(FinishReason reason) {
  ended_ = true;
  AnswerSummary summary{reason, {prompt_tokens_, completion_.tokens()}};
  // The upstream's counts replace the estimate only for an answer it ended itself: one cut short here (a stop
  // string, max_tokens) was counted by the upstream past the cut.
  if (report_ && report_->prompt_tokens && report_->completion_tokens && !cut_short_) {
    summary.usage = {*report_->prompt_tokens, *report_->completion_tokens};
    summary.usage_from_upstream = true;
  }
  sink_->on_summary(summary);
  sink_->on_done();
}

void AnswerShaper::end_early(FinishReason reason) {
  if (ended_) return;
  cut_short_ = true;
  end(reason);
  if (handle_) handle_->cancel();
}

}  // namespace engine
}  // namespace provhost::core
