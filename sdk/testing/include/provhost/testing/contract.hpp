// contract.hpp: the rules of provhost.h that can be checked on a single value, each written
// independently of the host and of the SDK's helpers (its own UTF-8 decoder, its own HTTP grammar),
// so that a bug there cannot hide itself. The session driver (session.hpp), the fuzzers and
// `provhost validate` all check plugins with these.
#pragma once

#include <provhost/provhost.h>

#include <optional>
#include <string>
#include <string_view>

namespace provhost::testing {

// Unicode's table 3-7: shortest forms only, no surrogates, nothing past U+10FFFF.
bool well_formed_utf8(std::string_view text);

// One line, safe for a terminal: no line break and no control character but a tab.
bool one_line(std::string_view text);

// RFC 9110 5.6.2: token = 1*tchar.
bool http_token(std::string_view text);

// RFC 9110 5.5: visible characters, spaces, tabs and obs-text; no leading or trailing whitespace.
bool http_field_value(std::string_view text);

// Bytes from a plugin, fit for a terminal or a log: printable ASCII as it is, anything else as \xNN,
// at most `limit` bytes of the input.
std::string printable(std::string_view bytes, size_t limit = 300);

// What is wrong with a request a session handed out (next_request's rules), or nullopt.
std::optional<std::string> request_defect(const ph_http_request &request);

// What is wrong with a warning's or an error's message, or nullopt. `kind` names it ("warning").
std::optional<std::string> message_defect(std::string_view kind, std::string_view message);

// What is wrong with a provider's metadata (the rules above ph_provider_info), or nullopt.
std::optional<std::string> metadata_defect(const ph_provider &provider);

}  // namespace provhost::testing
