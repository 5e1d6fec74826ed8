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
};

// Receives one chat's answer. Every call comes from the engine's thread, in this order:
// on_start, on_text..., then exactly one of on_done / on_error (on_error may come without on_start).
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
  // The whole chat, retries and fallback included; 0 = the longest of 120 s and the timeout the
  // provider asks for one request.
  uint32_t total_ms = 0;
};

struct EngineOptions {
  Timeouts timeouts;
  std::string proxy;  // "" = HTTPS_PROXY / ALL_PROXY from the environment, as libcurl reads them
  // Provider name (case-insensitive) -> origin ("http://127.0.0.1:8080") that replaces the
  // provider's real scheme, host and port (--upstream, PROVHOST_UPSTREAM_<NAME>, [upstreams]).
  std::map<std::string, std::string> upstreams;
  double backoff_scale = 1.0;    // multiplies every retry wait (PROVHOST_BACKOFF_SCALE); tests use 0.01
  bool log_transitions = false;  // a debug line per state change of every chat and transfer (log level debug)
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
