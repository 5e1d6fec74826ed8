// request_checks.hpp: what the engine accepts of a plugin's request before it becomes a transfer.
// The checks run where the engine takes a session's results, so that they hold whatever backend
// ran the plugin: only http and https, a URL libcurl can parse, header names that are tokens and
// values that cannot end the header, and the caps of EngineLimits, each checked before the work
// it limits.
#pragma once

#include <optional>
#include <provhost/core/chat.hpp>
#include <string>
#include <string_view>

#include "engine_session.hpp"

namespace provhost::core::engine {

// True for an HTTP token (RFC 9110, 5.6.2): what a method and a header name are made of.
bool is_http_token(std::string_view text);

// nullopt when `request` may be sent, else what is wrong with it, worded to follow "the plugin ".
std::optional<std::string> check_request(const detail::OutgoingRequest &request, const EngineLimits &limits);

}  // namespace provhost::core::engine
