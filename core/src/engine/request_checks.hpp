// request_checks.hpp: what the engine accepts of a plugin's request before it becomes a transfer.
// The checks run where the engine takes a session's results, so that they hold whatever backend
// ran the plugin: only http and https, a URL libcurl can parse, header names that are tokens and
// values that cannot end the header, and the caps of EngineLimits, each checked before the work
// it limits.
#pragma once

#include <array>
#include <optional>
#include <provhost/core/chat.hpp>
#include <string>
#include <string_view>

#include "engine_session.hpp"

namespace provhost::core::engine {

// True for an HTTP token (RFC 9110, 5.6.2): what a method and a header name are made of.
bool is_http_token(std::string_view text);

// URLs that libcurl parsed as http or https lately. Plugins ask for the same few URLs over and over,
// and parsing one (a CURLU, its scheme printed into a new string) was most of what checking a
// request cost: about 6,000 instructions a request on the engine's thread. A URL's verdict depends
// on its bytes alone, so a known one needs no new parse.
class KnownUrls {
 public:
  bool contains(std::string_view url) const;
  void add(const std::string &url);  // a URL longer than longest_kept is not kept

  static constexpr size_t capacity = 8;  // providers whose URLs are remembered at once, about
  static constexpr size_t longest_kept = 2048;

 private:
  std::array<std::string, capacity> urls_;
  size_t next_ = 0;  // the slot the next URL replaces, the oldest
};

// nullopt when `request` may be sent, else what is wrong with it, worded to follow "the plugin ".
// With `known`, a URL found there is not parsed again, and one that parses is added to it.
std::optional<std::string> check_request(const detail::OutgoingRequest &request, const EngineLimits &limits,
                                         KnownUrls *known = nullptr);

}  // namespace provhost::core::engine
