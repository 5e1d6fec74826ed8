// engine_errors.hpp: how the engine builds and reads a ChatError's message. Kept in one place so
// that the error model can be replaced without touching the engine's logic.
#pragma once

#include <provhost/core/chat.hpp>
#include <string>
#include <string_view>

namespace provhost::core {

ChatError make_error(ErrorKind kind, const std::string &provider, const std::string &what);

// The message without the "<Provider>: " it starts with, for lines that name the provider anyway.
std::string_view without_provider(const ChatError &error);

}  // namespace provhost::core
