#include "chat_state.hpp"

#include "engine_log.hpp"
#include "transfer.hpp"

namespace provhost::core::engine {

std::string_view to_string(ChatState state) {
  switch (state) {
    case ChatState::queued:
      return "queued";
    case ChatState::opening:
      return "opening";
    case ChatState::requesting:
      return "requesting";
    case ChatState::transferring:
      return "transferring";
    case ChatState::retry_waiting:
      return "retry-waiting";
    case ChatState::closing:
      return "closing";
    case ChatState::done:
      return "done";
  }
  return "?";
}

void transition(Chat &chat, ChatState to) {
  if (chat.state == to) return;
  log_transition("chat", chat.id, to_string(chat.state), to_string(to));
  chat.state = to;
}

}  // namespace provhost::core::engine
