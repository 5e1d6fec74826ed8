// messages.hpp: the conversation chores every bundled plugin shares.
#pragma once

#include <provhost/provider.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::plugins {

// Every protocol here reads the last message, so an empty conversation cannot be sent at all.
inline void require_messages(const ChatRequest &request) {
  if (request.messages.empty()) throw ProviderError(Failure::bad_request, "the conversation has no messages");
}

// The contents of the messages with `role`, in order, joined by `separator`.
inline std::string join_contents(const std::vector<Message> &messages, std::string_view role,
                                 std::string_view separator) {
  std::string joined;
  bool first = true;
  for (const Message &message : messages) {
    if (message.role != role) continue;
    if (!first) joined += separator;
    joined += message.content;
    first = false;
  }
  return joined;
}

// The model name to send upstream. The host resolves models (and refuses unknown ones) before a session opens;
// mapping again here keeps a plugin correct for a host that passes the user's name through: empty -> the
// default, an alias -> its model, anything else as it is.
inline std::string upstream_model(const ProviderInfo &info, const std::string &requested) {
  if (requested.empty()) return info.default_model;
  for (const auto &[alias, model] : info.aliases)
    if (alias == requested) return model;
  return requested;
}

}  // namespace provhost::plugins
