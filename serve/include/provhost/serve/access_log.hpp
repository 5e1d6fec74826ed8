// access_log.hpp: what `serve` writes on stderr: one line per request, and one per warning of a
// chat (a retry, a fallback). Nothing a client sent reaches a line unescaped, so a request cannot
// forge lines, and no line holds a key, a header or a query string.
#pragma once

#include <cstdio>
#include <functional>
#include <provhost/core/registry.hpp>
#include <provhost/serve/http_connection.hpp>
#include <string>
#include <string_view>

namespace provhost::serve {

// Receives whole lines, newline included; may be called from any thread.
using LogWriter = std::function<void(std::string_view line)>;

// Writes the line to stderr in one call, so that lines from two threads never interleave.
void write_to_stderr(std::string_view line);

// A token of a log line: printable ASCII only (anything else becomes '?'), at most `limit` bytes,
// "-" when empty.
std::string printable(std::string_view text, std::size_t limit = 200);

// Free text of a log line: control bytes, DEL and backslash as \xNN, ill-formed UTF-8 as U+FFFD (provhost::one_line).
std::string escaped(std::string_view text);

// "provhost serve: METHOD PATH STATUS PROVIDER MODEL 1.2ms REQUEST_ID[ NOTE]\n", PROVIDER and
// MODEL from the exchange's first two log fields.
std::string access_line(const ExchangeSummary &summary);

// "provhost serve: warning: PEER ID PROVIDER: MESSAGE\n"
std::string warning_line(std::string_view peer, std::string_view request_id, std::string_view provider,
                         std::string_view message);

// A plugin event as an access-log line, in the shape of a request's: "provhost serve: PLUGIN FILE
// EVENT PROVIDER VERSION\n" (printable tokens, "-" when empty).
std::string plugin_access_line(const core::PluginEvent &event);

// A plugin event as a log line: "provhost serve: plugin replaced: Koala 1.1 (was 1.0) from FILE\n",
// "provhost serve: plugin rejected: FILE: REASON; Koala 1.0 goes on serving\n".
std::string plugin_event_line(const core::PluginEvent &event);

}  // namespace provhost::serve
