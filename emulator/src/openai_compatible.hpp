// openai_compatible.hpp: the emulator's OpenAI-compatible chat-completions endpoint (see the .cpp and README).
#pragma once

#include <string_view>

#include "routes.hpp"

namespace provhost::emulator::detail {

// Where it is served; an instance's base_url is the origin and "/openai/v1".
inline constexpr std::string_view openai_compatible_path = "/openai/v1/chat/completions";

// The reply to a request for openai_compatible_path.
Reply respond_openai_compatible(State &state, const Request &request);

}  // namespace provhost::emulator::detail
