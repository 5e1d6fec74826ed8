// upstream.hpp: the upstream override. `--upstream NAME=URL` or PROVHOST_UPSTREAM_<NAME>=URL sends
// every request of provider NAME to another origin (scheme, host, port); the path, the query and
// the headers the provider chose stay as they are. This is how tests reach the emulator.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace provhost::core {

// `url` as an origin "scheme://host[:port]" (http or https, nothing after the authority but an
// optional "/"), or nullopt with a one-line reason in `error`.
std::optional<std::string> parse_origin(std::string_view url, std::string &error);

// `url` with its scheme, host and port replaced by `origin`; everything from the path on is kept
// byte for byte. nullopt when `url` is not absolute.
std::optional<std::string> replace_origin(std::string_view url, std::string_view origin);

// `--upstream NAME=URL` pairs (name -> URL) checked and made origins (name -> origin), or nullopt
// with a one-line reason in `error` ("--upstream NAME: invalid upstream ...").
std::optional<std::map<std::string, std::string>> parse_upstreams(const std::map<std::string, std::string> &urls,
                                                                  std::string &error);

// The environment variable that overrides `provider`: PROVHOST_UPSTREAM_ and the name in capitals,
// with any character other than a letter or a digit as "_".
std::string upstream_variable(std::string_view provider);

// The origin to use for `provider`: the entry of `overrides` whose name matches case-insensitively,
// else the provider's environment variable; "" for the provider's real origin.
std::string find_upstream(std::string_view provider, const std::map<std::string, std::string> &overrides);

}  // namespace provhost::core
