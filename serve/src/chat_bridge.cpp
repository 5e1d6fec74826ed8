#include <boost/asio/post.hpp>
#include <cstdint>
#include <exception>
#include <provhost/serve/chat_bridge.hpp>
#include <provhost/serve/router.hpp>

namespace provhost::serve {

// Leaves the engine's events in the inbox and wakes the bridge on the connection's executor.
class ChatBridge::Sink : public core::ChatSink {
 public:
  Sink(std::weak_ptr<ChatBridge> bridge, std::shared_ptr<ChatInbox> inbox, boost::asio::any_io_executor executor,
       LogWriter warnings, std::shared_ptr<Metrics> metrics, std::string peer, std::string request_id, bool reads_usage)
      : bridge_(std::move(bridge)),
        inbox_(std::move(inbox)),
        executor_(std::move(executor)),
        warnings_(std::move(warnings)),
        metrics_(std::move(metrics)),
        peer_(std::move(peer)),
        request_id_(std::move(request_id)),
        reads_usage_(reads_usage) {}

  bool reads_usage() const override { return reads_usage_; }

  void on_start(const std::string &provider, const std::string &model) override {
    update([&](ChatInbox &inbox) {
      inbox.started.emplace(provider, model);
      inbox.started_at = std::chrono::steady_clock::now();
      return false;
    });
  }
  void on_text(std::string_view text) override {
    update([&](ChatInbox &inbox) { return admit(inbox, text.size(), [&] { inbox.text.append(text); }); });
  }
  void on_tool_call(const core::ToolCallDelta &piece) override {
    update([&](ChatInbox &inbox) {
      return admit(inbox, ChatInbox::piece_bytes(piece), [&] { inbox.tool_calls.push_back(piece); });
    });
  }
  // Written from the engine's thread at once: a retry or fallback is news while it happens, and
  // the client never sees it.
  void on_warning(const std::string &provider, std::string_view message) override {
    if (warnings_) warnings_(warning_line(peer_, request_id_, provider, message));
  }
  void on_setback(const core::Setback &setback) override {
    if (!metrics_) return;
    if (setback.kind == core::Setback::Kind::retry) {
      metrics_->retried(setback.provider, setback.error);
    } else {
      metrics_->fell_back(setback.provider, setback.error);
    }
  }
  void on_summary(const core::AnswerSummary &summary) override {
    update([&](ChatInbox &inbox) {
      inbox.summary = summary;
      return false;
    });
  }
  void on_done() override {
    update([](ChatInbox &inbox) {
      inbox.done = true;
      return false;
    });
  }
  void on_error(const core::ChatError &error) override {
    update([&](ChatInbox &inbox) {
      inbox.error = error;
      return false;
    });
  }

 private:
  // Adds `bytes` more of the answer to what waits for the client (`add` puts them in), holding the chat's output
  // past the mark; past the limit the inbox overflows instead. True when the bridge must hear of it at once.
  template <class Add>
  static bool admit(ChatInbox &inbox, std::size_t bytes, Add add) {
    if (inbox.overflowed) return false;
    if (inbox.waiting_bytes + bytes > inbox.text_limit) {
      inbox.overflowed = true;
      return true;
    }
    add();
    inbox.waiting_bytes += bytes;
    // Under the inbox's lock, as every hold and release is, so that they reach the engine in
    // the order they were decided in (the engine's own lock is never held around a sink call).
    if (!inbox.held && inbox.waiting_bytes > inbox.hold_above) {
      inbox.held = true;
      if (inbox.chat) inbox.chat->hold_output(true);
    }
    return false;
  }

  // `change` returns true when the bridge must hear of it even if a wake-up is pending.
  template <class Change>
  void update(Change change) {
    {
      std::lock_guard lock(inbox_->mutex);
      if (!inbox_->wake_needed(change(*inbox_))) return;
    }
    auto bridge = bridge_.lock();
    if (!bridge) return;
    boost::asio::post(executor_, [bridge = std::move(bridge), inbox = inbox_] { bridge->on_inbox(inbox); });
  }

  std::weak_ptr<ChatBridge> bridge_;
  std::shared_ptr<ChatInbox> inbox_;
  boost::asio::any_io_executor executor_;
  LogWriter warnings_;
  std::shared_ptr<Metrics> metrics_;
  std::string peer_, request_id_;
  const bool reads_usage_;
};

ChatBridge::ChatBridge(std::shared_ptr<HttpConnection> connection, CompletionIdentity identity, bool stream,
                       std::unique_ptr<AnswerFormat> format, Settings settings)
    : connection_(connection),
      connection_while_chatting_(std::move(connection)),
      identity_(std::move(identity)),
      stream_(stream),
      format_(std::move(format)),
      settings_(std::move(settings)) {}

void ChatBridge::start(const SubmitChat &submit, core::ChatSpec spec) {
  auto connection = connection_while_chatting_;
  inbox_ = stream_ ? std::make_shared<ChatInbox>(settings_.max_stream_backlog, settings_.max_stream_backlog / 4)
                   : std::make_shared<ChatInbox>(SIZE_MAX, SIZE_MAX, true);
  update_log_fields(*connection);
  auto sink =
      std::make_shared<Sink>(weak_from_this(), inbox_, connection->executor(), settings_.warnings, settings_.metrics,
                             connection->peer(), connection->request_id(), !stream_ || format_->streams_usage());
  try {
    chat_ = submit(std::move(spec), std::move(sink));
    std::lock_guard lock(inbox_->mutex);
    inbox_->chat = chat_;
    if (inbox_->held) chat_->hold_output(true);
  } catch (const std::exception &e) {
    end_chat();
    respond_error(*connection,
                  {500, std::string("The chat could not be started: ") + e.what(), "server_error", "", ""});
  }
}

// A wake-up posted by the sink: take what the engine left in the inbox, unless a write is in flight,
// whose completion takes it instead (on_writable). A client that let the inbox overflow is dropped at
// once, without waiting for its stalled write.
void ChatBridge::on_inbox(const std::shared_ptr<ChatInbox> &inbox) {
  auto connection = connection_.lock();
  if (!connection || inbox != inbox_) return;
  if (!connection->writing()) return take_inbox(*connection);
  bool overflowed = false;
  {
    std::lock_guard lock(inbox->mutex);
    overflowed = inbox->overflowed;
  }
  if (overflowed) return connection->cut("client too slow");
  regulate(*connection);
}

void ChatBridge::on_writable() {
  if (!inbox_) return;
  if (auto connection = connection_.lock()) take_inbox(*connection);
}

void ChatBridge::take_inbox(HttpConnection &connection) {
  std::optional<std::pair<std::string, std::string>> started;
  std::chrono::steady_clock::time_point started_at;
  std::string text;
  std::vector<core::ToolCallDelta> tool_calls;
  std::optional<core::ChatError> error;
  bool done = false, overflowed = false;
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->wake_pending = false;
    started.swap(inbox_->started);
    started_at = inbox_->started_at;
    text.swap(inbox_->text);
    tool_calls.swap(inbox_->tool_calls);
    inbox_->waiting_bytes = 0;
    error.swap(inbox_->error);
    if (inbox_->summary) summary_ = *inbox_->summary;
    done = inbox_->done;
    overflowed = inbox_->overflowed;
  }
  if (overflowed) return connection.cut("client too slow");
  if (started) chat_started(connection, started->first, started->second, started_at);
  if (!text.empty()) chat_text(connection, std::move(text));
  for (const core::ToolCallDelta &piece : tool_calls) chat_tool_call(connection, piece);
  if (error) return chat_failed(connection, *error);
  if (done) return chat_done(connection);
  connection.flush();
  regulate(connection);
}

void ChatBridge::regulate(HttpConnection &connection) {
  if (!stream_ || !chat_ || !inbox_) return;
  // Between the two marks the state stays, so that a client reading at about the upstream's pace
  // does not toggle the transfer at every write.
  std::lock_guard lock(inbox_->mutex);
  const std::size_t waiting = connection.unsent_bytes() + inbox_->waiting_bytes;
  const bool hold = !inbox_->held && waiting > inbox_->hold_above;
  const bool release = inbox_->held && waiting <= inbox_->hold_above / 4;
  if (!hold && !release) return;
  inbox_->held = hold;
  chat_->hold_output(hold);
}

std::string ChatBridge::last_words(std::string_view why) {
  std::string words = error_event({503, "The answer was cut: " + std::string(why) + ".", "server_error", "",
                                   why == "shutdown" ? "server_shutting_down" : "stream_cut"});
  words += done_event;
  return words;
}

void ChatBridge::chat_started(HttpConnection &connection, const std::string &provider, const std::string &model,
                              std::chrono::steady_clock::time_point at) {
  first_text_at_ = at;
  provider_ = provider;
  identity_.provider = provider;
  identity_.model = model;
  update_log_fields(connection);
  if (stream_) start_stream(connection);
}

void ChatBridge::chat_text(HttpConnection &connection, std::string text) {
  if (!stream_) {
    // A whole answer usually arrives in one piece: taken as it is rather than copied.
    if (content_.empty()) {
      content_ = std::move(text);
    } else {
      content_.append(text);
    }
    return;
  }
  if (!connection.stream_started()) start_stream(connection);
  connection.stream_append(format_->stream_text(identity_, text));
}

void ChatBridge::chat_tool_call(HttpConnection &connection, const core::ToolCallDelta &piece) {
  if (!stream_) return tool_calls_.add(piece);
  if (!connection.stream_started()) start_stream(connection);
  connection.stream_append(format_->stream_tool_call(identity_, piece));
}

void ChatBridge::chat_done(HttpConnection &connection) {
  end_chat();
  count_finished(200);
  if (!stream_) {
    respond_json(connection, http::status::ok, format_->whole(identity_, content_, tool_calls_.calls(), summary_));
    content_ = {};
    tool_calls_ = {};
    return;
  }
  if (!connection.stream_started()) start_stream(connection);
  connection.stream_append(format_->stream_end(identity_, summary_));
  connection.end_stream();
  connection.flush();
}

void ChatBridge::chat_failed(HttpConnection &connection, const core::ChatError &error) {
  end_chat();
  if (!error.provider.empty() && provider_.empty()) {
    provider_ = error.provider;
    update_log_fields(connection);
  }
  ApiError api = api_error(error);
  if (settings_.metrics && error.kind != core::ErrorKind::cancelled) {
    settings_.metrics->upstream_error(error.provider, error.kind);
  }
  count_finished(api.status);
  if (!connection.stream_started()) {
    // A client that honours the upstream's Retry-After waits as long as the upstream asked, not less.
    if (error.retry_after_seconds)
      connection.add_response_header("Retry-After", std::to_string(*error.retry_after_seconds));
    return respond_error(connection, api);
  }
  // The status line has gone out: the error can only travel inside the stream.
  connection.stream_append(format_->stream_error(identity_, api));
  connection.end_stream();
  connection.flush();
}

void ChatBridge::count_finished(int status) {
  if (!settings_.metrics || std::exchange(counted_, true)) return;
  auto now = std::chrono::steady_clock::now();
  std::optional<std::chrono::duration<double>> first_token;
  if (first_text_at_) first_token = *first_text_at_ - started_at_;
  settings_.metrics->chat_finished(format_->endpoint(), provider_, identity_.model, status, now - started_at_,
                                   first_token);
  if (std::exchange(counted_as_stream_, false)) settings_.metrics->stream_ended();
}

void ChatBridge::start_stream(HttpConnection &connection) {
  if (settings_.metrics && !std::exchange(counted_as_stream_, true)) settings_.metrics->stream_started();
  StreamHeader header(http::status::ok, 11);
  header.set(http::field::content_type, "text/event-stream; charset=utf-8");
  header.set(http::field::cache_control, "no-cache");
  header.set("X-Accel-Buffering", "no");
  connection.start_stream(std::move(header));
  connection.stream_append(format_->stream_start(identity_));
}

void ChatBridge::update_log_fields(HttpConnection &connection) {
  connection.set_log_fields({provider_, identity_.model});
}

void ChatBridge::end_chat(bool cancel) {
  if (cancel && inbox_ && chat_) chat_->cancel();
  inbox_.reset();
  chat_.reset();
  connection_while_chatting_.reset();
}

}  // namespace provhost::serve
