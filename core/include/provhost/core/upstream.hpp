// upstream.hpp: the upstream override. `--upstream NAME=URL` or PROVHOST_UPSTREAM_<NAME>=URL sends
// every request of provider NAME to another origin (scheme, host, port); the path, the query and
// the headers the provider chose stay as they are. This is how tests reach the emulator. The host
// gathers the overrides from all its sources; core only applies them.
#pragma once

#include <map>
#include <optional>
#include <provhost/core/error.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace provhost::core {

// `url` as an origin "scheme://host[:port]" (http or https, nothing after the authority but an
// optional "/"), or a bad_request error whose detail is one line saying why.
Result<std::string> parse_origin(std::string_view url);

// `url` with its scheme, host and port replaced by `origin`; everything from the path on is kept
// byte for byte. nullopt when `url` is not absolute.
std::optional<std::string> replace_origin(std::string_view url, std::string_view origin);

// `--upstream NAME=URL` pairs (name -> URL) checked and made origins (name -> origin), or the first
// bad one's error ("--upstream NAME: invalid upstream ...").
Result<std::map<std::string, std::string>> parse_upstreams(const std::map<std::string, std::string> &urls);

// One `--upstream NAME=URL` as NAME and its origin, or its error ("--upstream NAME: invalid
// upstream ..." as parse_upstreams words it).
Result<std::pair<std::string, std::string>> parse_upstream_option(std::string_view spec);

// The environment variable that overrides `provider`: PROVHOST_UPSTREAM_ and the name in capitals,
// with any character other than a letter or a digit as "_".
std::string upstream_variable(std::string_view provider);

// The origin to use for `provider`: the entry of `overrides` whose name matches once both are
// spelled as upstream_variable spells them (case-insensitively, other characters as "_"); "" for
// the provider's real origin.
std::string find_upstream(std::string_view provider, const std::map<std::string, std::string> &overrides);

}  // namespace provhost::core
