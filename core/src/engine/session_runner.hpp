// session_runner.hpp: the one place that runs SessionWork against plugin sessions and produces
// SessionResults. InProcessBackend runs it on a plugin thread of the host; the plugin worker
// process (core/src/isolation/) runs the very same code on its side of the socket.
#pragma once

#include <memory>
#include <provhost/core/registry.hpp>
#include <unordered_map>

#include "session_backend.hpp"

namespace provhost::core::engine {

class SessionRunner {
 public:
  // Runs sessions of `provider` (null: none is loaded, and every open fails).
  explicit SessionRunner(ProviderPtr provider);
  ~SessionRunner();
  SessionRunner(const SessionRunner &) = delete;
  SessionRunner &operator=(const SessionRunner &) = delete;

  // Runs each item of `work` in order, appending what it produced to `produced`.
  void run(Batch<SessionWork> &work, Batch<SessionResult> &produced);
  // Closes every session still open.
  void close_all();

 private:
  struct Slot;
  SessionResult &result(Batch<SessionResult> &produced, Slot *slot, SessionId id, SessionResult::Kind kind);
  void failed(SessionResult &out, Slot &slot);
  void handle(SessionWork &work, Batch<SessionResult> &produced);
  void body(Slot &slot, SessionWork &work, Batch<SessionResult> &produced);
  void next_request(Slot &slot, SessionId id, Batch<SessionResult> &produced);
  void open(SessionWork &work, Batch<SessionResult> &produced);

  ProviderPtr provider_;
  std::unordered_map<SessionId, std::unique_ptr<Slot>> sessions_;
};

}  // namespace provhost::core::engine
