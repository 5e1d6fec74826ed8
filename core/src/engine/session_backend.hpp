// session_backend.hpp: where plugin sessions run, seen from the engine. The engine never calls
// plugin code itself: it hands a batch of work per wake-up (open a session, ask for the next
// request, a response's start, body bytes, its end, close) to a SessionBackend, and collects the
// results when they are ready. Work and results are plain data, copied in and out (no pointer into
// libcurl's buffers survives a call), so that a backend in another process can implement the same
// interface. InProcessBackend (in_process_backend.cpp) runs them on a plugin thread in this
// process, which posts the results back and wakes the engine; ProcessBackend
// (../isolation/process_backend.cpp) in a worker process per provider, whose sockets the engine
// polls itself beside libcurl's (watch(), ready()), with its call timeouts in the engine's
// deadline queue (deadline_due()), so that a round trip to a worker wakes the engine once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <provhost/core/chat.hpp>
#include <provhost/core/http_error.hpp>
#include <provhost/core/registry.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "decisions.hpp"
#include "engine_session.hpp"
#include "poll_watch.hpp"

namespace provhost::core::engine {

using SessionId = uint64_t;  // never reused within an engine

// A list of items that keep their buffers from one use to the next: add() hands out a recycled
// item, clear() forgets the items without freeing them. Batches travel between the engine and the
// backend by swapping, so in a steady state nothing is allocated per chunk of a stream.
template <class Item>
class Batch {
 public:
  Item &add() {
    if (used_ == items_.size()) items_.emplace_back();
    Item &item = items_[used_++];
    item.recycle();
    return item;
  }
  // Moves the items of `other` to the end of this batch (their buffers swap places).
  void append_from(Batch &other) {
    for (size_t i = 0; i < other.used_; ++i) std::swap(add(), other.items_[i]);
    other.used_ = 0;
  }
  void clear() { used_ = 0; }
  bool empty() const { return used_ == 0; }
  size_t size() const { return used_; }
  Item &operator[](size_t i) { return items_[i]; }
  void swap(Batch &other) noexcept {
    items_.swap(other.items_);
    std::swap(used_, other.used_);
  }

 private:
  std::vector<Item> items_;
  size_t used_ = 0;
};

struct SessionWork {
  enum class Kind : uint8_t { open, next_request, response_start, body, response_end, close };
  Kind kind = Kind::close;
  SessionId session = 0;
  // open
  std::string provider;
  ProviderPtr plugin;  // the version to open it on; null: the registry's current one of that name
  std::string model;
  ChatSpec spec;
  // response_start
  int status = 0;
  HttpHeaders headers;
  // body; also response_start, with the first body bytes: read at once when the session reads
  // the response, handed back (SessionResult::bytes) when it does not, saving a round trip
  std::string bytes;
  // body, in a plugin worker: the bytes where the host put them instead (the body region,
  // ../isolation/wire.hpp), valid while the batch runs; empty when they are in `bytes`
  std::string_view shared;

  std::string_view body() const { return shared.empty() ? std::string_view(bytes) : shared; }
  void recycle() {
    bytes.clear();
    shared = {};
    plugin.reset();
  }
};

struct SessionResult {
  enum class Kind : uint8_t {
    opened,            // the session is open
    request,           // `request` is the next one to send
    no_more_requests,  // the session has nothing more to send (`finished`: it finished) and is closed
    action,            // what to do with the response that began
    body_taken,        // the body bytes were consumed; `answer_complete` when the session said PH_DONE,
                       // and then the next request's result follows unasked
    response_ended,    // the session took the end of the response; the next request's result follows
    failed,            // the session failed: `error` says why; later work on it is ignored
    closed,            // the session is closed
  };
  Kind kind = Kind::closed;
  SessionId session = 0;
  std::vector<std::string> warnings;  // what the call reported, in order, before its text
  std::string text;                   // all the text the call produced
  bool text_repaired = false;         // an event of it was not UTF-8 on its own (see PluginSession::on_text)
  detail::OutgoingRequest request;
  bool finished = false;
  ph_response_action action = PH_RESPONSE_READ;
  std::string bytes;  // action: the first body bytes, handed back when the action is not READ
  bool answer_complete = false;
  ChatError error;
  std::vector<ToolCallDelta> tool_calls;  // what the call reported, after its text
  std::optional<UpstreamReport> report;   // the upstream's counts and finish reason, when the call reported them

  void recycle() {
    warnings.clear();
    text.clear();
    text_repaired = false;
    tool_calls.clear();
    report.reset();
    bytes.clear();
    finished = false;
    answer_complete = false;
  }
};

class SessionBackend {
 public:
  virtual ~SessionBackend() = default;
  // Queues the work in order and returns at once; `work` is left empty.
  virtual void submit(Batch<SessionWork> &work) = 0;
  // Moves every result ready so far into `results` (empty on entry); returns at once.
  virtual void collect(Batch<SessionResult> &results) = 0;
  // Runs the work already submitted, closes every session still open, and stops. Results that
  // come after are dropped.
  virtual void shutdown() = 0;

  // For a backend whose descriptors the engine polls, on the engine's thread. watch() appends what
  // to poll next; ready() gets the same entries back with what the poll found, and does the I/O
  // they allow, without ever blocking.
  virtual void watch(std::vector<PollWatch> &) {}
  virtual void ready(std::vector<PollWatch> &) {}
  // Results were posted by the engine's own thread since the last collect(), with no wake: the
  // engine collects them before it sleeps.
  virtual bool results_pending() const { return false; }
  // A deadline the backend armed in the engine's queue (DeadlineKind::backend, `owner` its own id)
  // came due.
  virtual void deadline_due(uint64_t /*owner*/, TimePoint /*now*/) {}
};

// Sessions of `registry`'s providers on plugin threads of this process, one per provider version.
// `wake` is called (from those threads) when results become ready after none were waiting.
std::unique_ptr<SessionBackend> make_in_process_backend(const Registry &registry, std::function<void()> wake);

}  // namespace provhost::core::engine
