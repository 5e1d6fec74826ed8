// scripted_engine.hpp: a stand-in for core::Engine behind the server in the serve tests. Chats run
// on its own thread, as the engine's do, and follow a script: a provider and model, texts, then
// done or an error; a chat may also hold after its first text until the test releases it or the
// server cancels it. A repeating chat honours hold_output (backpressure) as the engine does: it
// sends nothing while held. Records every spec it was given, every cancellation and every hold.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/serve/server.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace provhost::serve_test {

struct Script {
  std::string provider = "Scripted";
  std::string model = "scripted-1";
  std::vector<std::string> texts = {"Hello", ", world"};
  std::optional<core::ChatError> error_before_text = {};             // fails without on_start
  std::optional<core::ChatError> error_after_text = {};              // fails after the texts
  bool hold_after_first_text = false;                                // waits for release() or cancel
  bool repeat_until_cancelled = false;                               // sends texts[0] again and again until cancelled
  std::size_t repeat_times = 0;                                      // else sends texts[0] this often, then done;
                                                                     // with hold_after_first_text, once released
  std::vector<std::pair<std::string, std::string>> warnings = {};    // provider, message: sent first, as retries are
  core::AnswerSummary summary = {core::FinishReason::stop, {9, 3}};  // heard just before on_done
  std::vector<core::ToolCallDelta> tool_calls = {};                  // pieces sent after the texts
};

// A provider the scripted resolution offers, with the capabilities it declares.
struct Candidate {
  std::string name;
  std::vector<std::string> capabilities;
};

class ScriptedEngine {
 public:
  ScriptedEngine() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~ScriptedEngine() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  void set_script(Script script) {
    std::lock_guard lock(mutex_);
    script_ = std::move(script);
  }

  // The providers every request could go to, in order (serve::ResolveCandidates); none makes resolution fail.
  void set_candidates(std::vector<Candidate> candidates) {
    std::lock_guard lock(mutex_);
    candidates_ = std::move(candidates);
  }

  serve::ResolveCandidates resolver() {
    return [this](std::string_view, std::string_view model) {
      std::lock_guard lock(mutex_);
      core::ResolveResult result;
      for (const Candidate &candidate : candidates_) {
        auto provider = std::make_shared<core::LoadedProvider>();
        provider->meta.name = candidate.name;
        provider->meta.working = true;
        provider->meta.capabilities = candidate.capabilities;
        result.candidates.push_back({std::move(provider), std::string(model)});
      }
      if (result.candidates.empty()) {
        result.kind = core::ResolveResult::Kind::model_not_found;
        result.error = "no provider offers the model";
      }
      return result;
    };
  }

  serve::SubmitChat submitter() {
    return [this](core::ChatSpec spec, std::shared_ptr<core::ChatSink> sink) { return submit(std::move(spec), sink); };
  }

  std::vector<core::ChatSpec> specs() const {
    std::lock_guard lock(mutex_);
    return specs_;
  }

  // Waits until `count` chats were cancelled, up to `limit`.
  bool wait_for_cancellations(std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return cancellations_ >= count; });
  }

  // Waits until `count` chats are holding, up to `limit`.
  bool wait_for_held(std::size_t count, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return held_ >= count; });
  }

  std::size_t cancellations() const {
    std::lock_guard lock(mutex_);
    return cancellations_;
  }

  // How often the server held a chat's output.
  std::size_t holds() const {
    std::lock_guard lock(mutex_);
    return holds_;
  }

  // Held chats send the rest of their texts and finish.
  void release() {
    boost::asio::post(io_, [this] {
      auto chats = std::move(held_chats_);
      held_chats_.clear();
      for (auto &chat : chats) {
        if (chat->ended) continue;
        if (chat->script.repeat_times > 0) {
          repeat(chat, false);
          continue;
        }
        for (std::size_t i = 1; i < chat->script.texts.size(); ++i) chat->sink->on_text(chat->script.texts[i]);
        finish(*chat);
      }
    });
  }

 private:
  struct Chat : core::ChatHandle, std::enable_shared_from_this<Chat> {
    ScriptedEngine *engine = nullptr;
    Script script;
    std::shared_ptr<core::ChatSink> sink;
    bool ended = false;    // touched on the engine thread only
    bool held = false;     // likewise
    bool waiting = false;  // a repeating chat stopped by a hold, to go on when released
    std::size_t repeated = 0;

    void hold_output(bool hold) override {
      boost::asio::post(engine->io_, [self = shared_from_this(), hold] {
        self->held = hold;
        if (hold) {
          std::lock_guard lock(self->engine->mutex_);
          ++self->engine->holds_;
        } else if (std::exchange(self->waiting, false)) {
          self->engine->repeat(self, false);
        }
      });
    }

    void cancel() override {
      boost::asio::post(engine->io_, [self = shared_from_this()] {
        if (self->ended) return;
        self->ended = true;
        core::ChatError error;
        error.kind = core::ErrorKind::cancelled;
        error.detail = "cancelled";
        self->sink->on_error(error);
        self->sink.reset();
        std::lock_guard lock(self->engine->mutex_);
        ++self->engine->cancellations_;
        self->engine->changed_.notify_all();
      });
    }
  };

  std::shared_ptr<core::ChatHandle> submit(core::ChatSpec spec, std::shared_ptr<core::ChatSink> sink) {
    auto chat = std::make_shared<Chat>();
    chat->engine = this;
    chat->sink = std::move(sink);
    {
      std::lock_guard lock(mutex_);
      specs_.push_back(std::move(spec));
      chat->script = script_;
    }
    boost::asio::post(io_, [this, chat] { run(chat); });
    return chat;
  }

  void run(const std::shared_ptr<Chat> &chat) {
    const Script &script = chat->script;
    if (chat->ended) return;
    for (const auto &[provider, message] : script.warnings) chat->sink->on_warning(provider, message);
    if (script.error_before_text) return fail(*chat, *script.error_before_text);
    if (script.repeat_until_cancelled || (script.repeat_times > 0 && !script.hold_after_first_text)) {
      return repeat(chat, true);
    }
    if (!script.texts.empty() || !script.tool_calls.empty()) chat->sink->on_start(script.provider, script.model);
    if (script.hold_after_first_text) {
      if (!script.texts.empty()) chat->sink->on_text(script.texts[0]);
      if (script.texts.empty() && !script.tool_calls.empty()) chat->sink->on_tool_call(script.tool_calls[0]);
      chat->repeated = 1;
      held_chats_.push_back(chat);
      std::lock_guard lock(mutex_);
      ++held_;
      changed_.notify_all();
      return;
    }
    for (const auto &text : script.texts) chat->sink->on_text(text);
    for (const auto &piece : script.tool_calls) chat->sink->on_tool_call(piece);
    finish(*chat);
  }

  // One text at a time through the loop, so a cancellation or a hold gets in between.
  void repeat(const std::shared_ptr<Chat> &chat, bool first) {
    if (chat->ended) return;
    if (chat->held) {
      chat->waiting = true;
      return;
    }
    if (first) chat->sink->on_start(chat->script.provider, chat->script.model);
    if (!chat->script.repeat_until_cancelled && chat->repeated == chat->script.repeat_times) return finish(*chat);
    ++chat->repeated;
    // A script without texts repeats its first tool call's piece instead.
    if (chat->script.texts.empty()) {
      chat->sink->on_tool_call(chat->script.tool_calls.at(0));
    } else {
      chat->sink->on_text(chat->script.texts.at(0));
    }
    boost::asio::post(io_, [this, chat] { repeat(chat, false); });
  }

  void finish(Chat &chat) {
    if (chat.script.error_after_text) return fail(chat, *chat.script.error_after_text);
    chat.ended = true;
    chat.sink->on_summary(chat.script.summary);
    chat.sink->on_done();
    chat.sink.reset();
  }

  void fail(Chat &chat, const core::ChatError &error) {
    chat.ended = true;
    chat.sink->on_error(error);
    chat.sink.reset();
  }

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::shared_ptr<Chat>> held_chats_;  // engine thread only

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  Script script_;
  std::vector<Candidate> candidates_ = {{"Scripted", {}}};
  std::vector<core::ChatSpec> specs_;
  std::size_t cancellations_ = 0;
  std::size_t held_ = 0;
  std::size_t holds_ = 0;

  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace provhost::serve_test
