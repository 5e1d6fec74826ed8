// chat.hpp: the one path that `provhost chat` and `provhost serve` share.
//
// submit() resolves the provider and model, opens a provider session, and drives the HTTP requests
// the session asks for on libcurl's multi interface; response bytes go to the session, its events
// go to the ChatSink. When a provider fails before any text reached the sink, the next eligible
// provider is tried (fallback). Any number of chats run concurrently on the engine's one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <provhost/core/error.hpp>
#include <provhost/core/registry.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::core {

struct Message {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// What the user asked for, before resolution.
struct ChatSpec {
  std::string provider;  // "" = the eligible providers in order, with fallback
  std::string model;     // "" = the provider's default; "Provider/model" names the provider too
  std::vector<Message> messages;
  bool stream = true;
  std::string options_json = "{}";  // extra request fields for the plugin (temperature, ...)
  // The caller's OpenAI fields for providers that declare them (ph_chat_request.passthrough_json: tools,
  // tool_choice, the raw messages, response_format); "" = none. The front end fills it only with fields some
  // provider may honour, and the engine hands it to a provider only when it declares the capability.
  std::string passthrough_json;
  // Only candidates that declare every one of these capabilities are tried (fallback stays among them): a request
  // with tools goes only to providers that declare "param:tools". None left is a bad_request naming the first.
  std::vector<std::string> required_capabilities;
};

// Token counts of one answer, estimated as provhost/core/tokens.hpp says.
struct Usage {
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t total() const { return prompt_tokens + completion_tokens; }
};

// Why an answer ended: the upstream finished or a stop string came ("stop"), or max_tokens was
// reached ("length"); or, as an upstream reported it (ABI 1.1), the model asked for tools ("tool_calls") or
// was filtered ("content_filter"). The names are OpenAI's finish_reason values.
enum class FinishReason { stop, length, tool_calls, content_filter };
const char *to_string(FinishReason reason);
// OpenAI's word as a FinishReason; nullopt for any other.
std::optional<FinishReason> finish_reason_named(std::string_view name);

// What an upstream itself said about its answer (ph_answer_info), as a plugin reported it.
struct UpstreamReport {
  std::optional<uint64_t> prompt_tokens;
  std::optional<uint64_t> completion_tokens;
  std::string finish_reason;  // as the plugin said it; "" when unknown
};

// A piece of a tool call the model asks for (ph_tool_call): OpenAI's streamed delta.tool_calls[] item.
struct ToolCallDelta {
  uint32_t index = 0;
  std::string id;         // on a call's first piece
  std::string name;       // on a call's first piece
  std::string arguments;  // more of the arguments' JSON text
};

// A failed attempt that the chat got over: the same provider asked again (retry), or the next one
// (fallback). The same news reaches on_warning as a line of text.
struct Setback {
  enum class Kind { retry, fallback };
  Kind kind = Kind::retry;
  std::string provider;  // who failed
  ErrorKind error = ErrorKind::upstream;
};

struct AnswerSummary {
  FinishReason finish_reason = FinishReason::stop;
  Usage usage;
  bool usage_from_upstream = false;  // the upstream's counts, not the estimate
};

// Receives one chat's answer. Every call comes from the engine's thread, in this order:
// on_start, on_text..., then on_summary and on_done, or on_error (which may come without on_start).
//
// The engine shapes the answer before the sink sees it, whatever the provider: text never
// contains a `stop` string of the request's options (the answer ends before it), and it ends
// after `max_tokens` estimated tokens unless the answering provider declares the capability
// PH_CAP_PARAM_MAX_TOKENS (its upstream counts them itself).
class ChatSink {
 public:
  virtual ~ChatSink() = default;
  // The first text is ready from this provider; fallback is no longer possible after this.
  virtual void on_start(const std::string &provider, const std::string &model) {
    (void)provider;
    (void)model;
  }
  // The next piece of the answer: all the text one chunk of the response carried.
  virtual void on_text(std::string_view text) = 0;
  virtual void on_warning(const std::string &provider, std::string_view message) {
    (void)provider;
    (void)message;
  }
  virtual void on_setback(const Setback &setback) { (void)setback; }
  // A piece of a tool call, after on_start; only for a chat whose passthrough_json has tools.
  virtual void on_tool_call(const ToolCallDelta &call) { (void)call; }
  // The upstream's own counts and finish reason, when the plugin reported them; before on_summary. The engine's
  // shaper consumes it (on_summary carries the result), so a caller's sink need not.
  virtual void on_upstream_report(const UpstreamReport &report) { (void)report; }
  // Why the answer ended and what it cost; just before on_done.
  virtual void on_summary(const AnswerSummary &summary) { (void)summary; }
  // Whether on_summary's usage is read. A sink that ignores it (`chat` without --usage) spares the engine
  // the estimate of the answer's tokens, a look at every byte, unless max_tokens needs them; its summary's
  // completion count is then 0. Asked as the answer starts.
  virtual bool reads_usage() const { return true; }
  virtual void on_done() = 0;
  virtual void on_error(const ChatError &error) = 0;
};

// Cancels a chat: its transfer is closed at once and the sink gets on_error(cancelled) unless the
// chat already ended. Thread-safe.
class ChatHandle {
 public:
  virtual ~ChatHandle() = default;
  virtual void cancel() = 0;
  // Backpressure from a reader slower than the upstream: while held, the chat's answer stops
  // reaching the sink (what the plugin has already been given still arrives), the upstream's bytes
  // wait in a bounded buffer and then in the kernel (the transfer is paused, curl_easy_pause, and
  // the idle timeout does not count the pause). Releasing it resumes where it stopped. Thread-safe.
  virtual void hold_output(bool held) = 0;
};

// 0 means no limit of our own (for connect: libcurl's default).
struct Timeouts {
  uint32_t connect_ms = 10'000;     // TCP + TLS + proxy handshake
  uint32_t first_byte_ms = 60'000;  // request sent -> first response byte
  uint32_t idle_ms = 30'000;        // no bytes mid-stream -> "stalled"
  // The whole chat, retries and fallback included; 0 = 120 s. A plugin's timeout for one request
  // only ever shortens it.
  uint32_t total_ms = 0;
};

// What a plugin may ask of the host and hand to it; a chat whose plugin goes past one fails (kind
// "plugin", or "protocol" for the answer's size) instead of costing the host its memory or time.
struct EngineLimits {
  uint64_t max_answer_bytes = 32 * 1024 * 1024;  // the text of one chat, streamed or not (--max-answer-bytes)
  uint32_t max_requests = 32;                    // requests of one chat, fallback included, retries not
  uint32_t max_request_headers = 100;            // headers of one request
  uint64_t max_request_body = 8 * 1024 * 1024;   // bytes of one request's body
};

class ChatRecorder;  // recording.hpp

struct EngineOptions {
  Timeouts timeouts;
  EngineLimits limits;
  std::string proxy;  // "" = HTTPS_PROXY / ALL_PROXY from the environment, as libcurl reads them
  // Provider name (case-insensitive) -> origin ("http://127.0.0.1:8080") that replaces the
  // provider's real scheme, host and port (--upstream, PROVHOST_UPSTREAM_<NAME>, [upstreams]).
  std::map<std::string, std::string> upstreams;
  double backoff_scale = 1.0;    // multiplies every retry wait (PROVHOST_BACKOFF_SCALE); tests use 0.01
  bool log_transitions = false;  // a debug line per state change of every chat and transfer (log level debug)
  // Each chat's upstream exchanges, handed over when it ends (recording.hpp); null records nothing
  // and costs the transfers one pointer test per callback.
  std::shared_ptr<ChatRecorder> recorder;
};

class Engine {
 public:
  Engine(const Registry &registry, EngineOptions options);
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Starts a chat and returns at once; thread-safe. Errors, resolution errors included, arrive
  // through sink->on_error. `sink` must not be null.
  std::shared_ptr<ChatHandle> submit(ChatSpec spec, std::shared_ptr<ChatSink> sink);

  // Runs the loop on the calling thread until stop() (for `serve`). One thread at a time runs
  // the loop; sinks are called on it. Chats still running when the engine is destroyed end with
  // on_error(cancelled).
  void run();
  // Runs the loop until every submitted chat has ended (for `chat`).
  void run_until_idle();
  // Makes run() return soon; thread-safe.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace provhost::core
