// chat_state.hpp: one chat as the engine's thread sees it, and the states it walks through.
//
//   queued -> opening -> requesting -> transferring -> requesting ... -> closing -> done
//                 ^                     |    ^
//                 |                     v    |
//   (fallback: the next provider)   retry_waiting
//
// A chat leaves for `closing` from any state when it ends (answer, error, cancel): its session is
// closed first, then the sink hears the outcome, so that a sink never sees the end of a chat whose
// plugin session is still open. transition() is the only place the state changes, and logs it.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/recording.hpp>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

#include "decisions.hpp"
#include "engine_session.hpp"
#include "session_backend.hpp"

namespace provhost::core::engine {

struct Transfer;

enum class ChatState : uint8_t {
  queued,         // submitted, not yet seen by the loop
  opening,        // a provider's session is being opened
  requesting,     // the session is asked for its next request
  transferring,   // a transfer of the current request runs (see TransferState)
  retry_waiting,  // the last attempt failed; the next one starts at retry_at
  closing,        // ended: the session is closing, the sink hears `outcome` once it has
  done,           // the sink has heard the end
};
std::string_view to_string(ChatState state);

struct Chat {
  Chat(uint64_t id, ChatSpec spec, std::shared_ptr<ChatSink> sink)
      : id(id), spec(std::move(spec)), sink(std::move(sink)) {}

  const uint64_t id;
  ChatSpec spec;
  std::shared_ptr<ChatSink> sink;
  std::atomic<bool> cancel_requested{false};
  ChatState state = ChatState::queued;
  bool output_held = false;  // the caller's backpressure: body bytes wait in the transfer

  std::vector<Resolution> candidates;
  size_t next_candidate = 0;
  std::vector<ChatError> failures;  // why each provider tried failed

  SessionId session = 0;  // the current provider's session; 0 = none
  std::string provider;   // the current provider's name, and the model asked of it
  std::string model;
  std::string origin;  // the upstream override of the current provider; "" for its real origin
  detail::OutgoingRequest request;
  uint32_t attempt = 0;  // of `request`, from 1
  std::unique_ptr<Transfer> transfer;
  TimePoint retry_at = never;

  TimePoint started_at{};
  TimePoint deadline = never;        // the whole chat, retries and fallback included
  bool sink_started = false;         // on_start was called: fallback and retries are over
  uint64_t answer_bytes = 0;         // text that reached the sink (EngineLimits::max_answer_bytes)
  uint32_t requests = 0;             // requests the sessions asked for, fallback included (EngineLimits::max_requests)
  bool warned_not_utf8 = false;      // ill-formed text is repaired with one warning per chat
  std::optional<ChatError> outcome;  // while closing: the error to report; none = the answer is done
  std::unique_ptr<RecordedChat> recording;  // with EngineOptions::recorder only
};

// The one place a chat's state changes.
void transition(Chat &chat, ChatState to);

}  // namespace provhost::core::engine
