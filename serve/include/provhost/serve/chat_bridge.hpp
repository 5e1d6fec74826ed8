// chat_bridge.hpp: one chat answered over one HTTP exchange. The engine calls the chat's sink on
// its own thread; the sink leaves what it got in an inbox and wakes the connection on the
// connection's executor, so the engine's thread never waits on a client. The bridge turns what it
// takes from the inbox into OpenAI's answer: one chat.completion, or server-sent events that start
// (status 200) only with the first text, so an error before it still gets its real status and
// fallback stays invisible to the client.
//
// Backpressure: when a streaming client reads slower than the upstream sends, what waits for it
// (in the inbox and the connection) grows; past a quarter of the backlog limit the chat's output is
// held (ChatHandle::hold_output: the engine pauses the upstream transfer), by the sink on the
// engine's thread as soon as the inbox passes the mark, or by the bridge when the connection holds
// the rest; the bridge releases it once the client has taken what waited. The backlog limit is a last resort (a cut
// with an error event); a client that reads nothing is dropped by the connection's write timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/serve/access_log.hpp>
#include <provhost/serve/answer_format.hpp>
#include <provhost/serve/http_connection.hpp>
#include <provhost/serve/metrics.hpp>
#include <provhost/serve/openai.hpp>
#include <string>
#include <utility>
#include <vector>

namespace provhost::serve {

// Starts a chat the way core::Engine::submit does: returns at once, calls the sink from another
// thread. A function, so tests can put a scripted provider behind the server.
using SubmitChat =
    std::function<std::shared_ptr<core::ChatHandle>(core::ChatSpec spec, std::shared_ptr<core::ChatSink> sink)>;

// What the engine's thread hands over to the connection. Texts that arrive while the connection is
// still writing wait here and are merged into one delta, so a fast upstream costs the io thread one
// wake-up per write, not one per token, and a slow client is noticed here.
//
// A whole (non-streamed) answer wakes the connection once, at its end: until then the client gets
// nothing, so waking it for the start or a text would cost a wake-up of the io thread per event
// for nothing.
struct ChatInbox {
  ChatInbox(std::size_t text_limit, std::size_t hold_above, bool wake_at_end_only = false)
      : text_limit(text_limit), hold_above(hold_above), wake_at_end_only(wake_at_end_only) {}

  std::mutex mutex;
  const std::size_t text_limit;  // text that may wait for the client before it counts as too slow
  bool wake_pending = false;     // the bridge will look here soon; no need to post again
  std::optional<std::pair<std::string, std::string>> started;  // provider, model
  // When the engine reported the start (on its thread): the time to the first token, whenever the
  // connection learns of it.
  std::chrono::steady_clock::time_point started_at;
  std::string text;
  std::vector<core::ToolCallDelta> tool_calls;  // after `text`: a model writes its text before it calls tools
  // What `text` and `tool_calls` hold, counted against text_limit; a piece of a tool call counts its strings and
  // what it costs beside them, so that a flood of empty pieces fills the inbox as text would.
  std::size_t waiting_bytes = 0;
  static std::size_t piece_bytes(const core::ToolCallDelta &piece) {
    return sizeof piece + piece.id.size() + piece.name.size() + piece.arguments.size();
  }
  std::optional<core::AnswerSummary> summary;
  bool done = false;
  std::optional<core::ChatError> error;
  bool overflowed = false;
  // Backpressure: the mark to hold the chat's output at; the chat, once submit() has returned (a
  // hold decided before is applied then); whether its output is held.
  const std::size_t hold_above;
  std::shared_ptr<core::ChatHandle> chat;
  bool held = false;
  const bool wake_at_end_only;  // a whole answer: only its end (done, error, overflow) wakes the bridge

  // After a change (under the lock): whether the bridge must be woken for it, `urgent` when it must
  // hear of it even with a wake-up pending. Counts the wake-up as pending when it says so.
  bool wake_needed(bool urgent) {
    if (wake_at_end_only && !urgent && !done && !error) return false;
    return !std::exchange(wake_pending, true) || urgent;
  }
};

class ChatBridge : public Responder, public std::enable_shared_from_this<ChatBridge> {
 public:
  struct Settings {
    std::size_t max_stream_backlog = 1024 * 1024;  // bytes of text a streaming client may lag behind
    LogWriter warnings;                            // retries and fallbacks; empty = not logged
    std::shared_ptr<Metrics> metrics;              // what /metrics counts; null = nothing
  };

  // `format` writes the answer for the endpoint that asked (chat completions, responses).
  ChatBridge(std::shared_ptr<HttpConnection> connection, CompletionIdentity identity, bool stream,
             std::unique_ptr<AnswerFormat> format, Settings settings);

  // Submits the chat; a submit that throws is answered with a 500.
  void start(const SubmitChat &submit, core::ChatSpec spec);

  void on_writable() override;
  void on_abort() override {
    count_finished(499);  // nginx's "client closed request": the client went away (or was dropped)
    end_chat(true);
  }
  std::string last_words(std::string_view why) override;

 private:
  class Sink;

  void on_inbox(const std::shared_ptr<ChatInbox> &inbox);
  void take_inbox(HttpConnection &connection);
  void chat_started(HttpConnection &connection, const std::string &provider, const std::string &model,
                    std::chrono::steady_clock::time_point at);
  void chat_text(HttpConnection &connection, std::string text);
  void chat_tool_call(HttpConnection &connection, const core::ToolCallDelta &piece);
  void chat_done(HttpConnection &connection);
  void chat_failed(HttpConnection &connection, const core::ChatError &error);
  void start_stream(HttpConnection &connection);
  void update_log_fields(HttpConnection &connection);
  // The chat is over for the client: counted once, with the status it got.
  void count_finished(int status);
  // Holds or releases the chat's output by what waits for the client.
  void regulate(HttpConnection &connection);
  // Cancelling closes the chat's upstream transfer at once; a chat that has ended needs nothing.
  void end_chat(bool cancel = false);

  std::weak_ptr<HttpConnection> connection_;
  // Nothing else need hold the connection while the engine works (when pipelined bytes stop the
  // hangup watch, say), and it must live to answer.
  std::shared_ptr<HttpConnection> connection_while_chatting_;
  CompletionIdentity identity_;
  const bool stream_;
  const std::unique_ptr<AnswerFormat> format_;
  core::AnswerSummary summary_;
  const Settings settings_;
  std::string provider_;  // for the access log: who answered, or who failed last
  std::shared_ptr<core::ChatHandle> chat_;
  std::shared_ptr<ChatInbox> inbox_;  // set while the chat runs
  std::string content_;               // a non-streaming answer so far
  ToolCalls tool_calls_;              // a non-streaming answer's tool calls so far
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> first_text_at_;
  bool counted_ = false;            // count_finished() ran
  bool counted_as_stream_ = false;  // in Metrics' streams in flight
};

}  // namespace provhost::serve
