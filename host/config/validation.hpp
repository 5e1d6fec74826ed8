// validation.hpp: the checks every source of a value shares, so that a value means the same from
// the command line, the environment and the file. Each returns why a value is bad, or nothing.
#pragma once

#include <provhost/provhost.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace provhost::host::config {

// A proxy URL libcurl understands: host:port, or a scheme of http, https, socks4, socks4a, socks5,
// socks5h.
std::optional<std::string> check_proxy(std::string_view proxy);

// HOST:PORT, [IPv6]:PORT or :PORT, the port from 0 to 65535 (the host is resolved by serve).
std::optional<std::string> check_listen(std::string_view listen);

// A browser origin serve may answer across sites: "*", or http:// or https:// with a host and an
// optional port, nothing after it ("https://chat.example.com", "http://localhost:3000").
std::optional<std::string> check_cors_origin(std::string_view origin);

// A host name (letters, digits, '.', '-', '_') or a bracketed IPv6 address, without a port: a
// name a Host header may give when serve listens on loopback.
std::optional<std::string> check_allowed_host(std::string_view host);

// An http:// or https:// URL with a host (a path is allowed: an API's base).
std::optional<std::string> check_base_url(std::string_view url);

// debug, info, warning or error as the ABI's level.
std::optional<ph_log_level> log_level_from_name(std::string_view name);

// Seconds as typed on the command line or in a variable: a number from 0 to 1e9.
std::optional<double> parse_seconds(std::string_view text);

// The least --plugin-memory other than 0 (no limit): a worker needs some to start at all.
inline constexpr std::uint64_t minimum_plugin_memory = std::uint64_t{64} << 20;

// A size in bytes as typed: digits, optionally followed by K, M or G (binary multiples).
std::optional<std::uint64_t> parse_bytes(std::string_view text);

// --isolation's values: "process" or "none"; why not, otherwise.
std::optional<std::string> check_isolation(std::string_view mode);

// What a provider's name may contain (the loader's rule): A-Z a-z 0-9 _ -, not empty.
bool is_provider_name(std::string_view name);

// A portable environment variable name: A-Z a-z 0-9 _, not starting with a digit.
bool is_variable_name(std::string_view name);

}  // namespace provhost::host::config
