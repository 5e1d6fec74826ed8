// serve.hpp: `provhost serve` as one call: the server on this thread, the engine on another, until
// SIGINT or SIGTERM has drained the server (a second signal cuts it short).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>
#include <filesystem>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/plugin_watch.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/serve/server.hpp>
#include <string>
#include <vector>

namespace provhost::serve {

// HOST:PORT, [IPv6]:PORT or :PORT (on 127.0.0.1); a host name is resolved to its first address.
// On failure, nullopt and `error` says why.
std::optional<boost::asio::ip::tcp::endpoint> parse_listen(const std::string &text, std::string &error);

// The listening socket could not be set up (address in use, say).
class ListenError : public boost::system::system_error {
 public:
  using boost::system::system_error::system_error;
};

// Live plugin folders: the folders to watch (none: the providers stay as loaded) and how.
struct PluginWatchSettings {
  std::vector<std::filesystem::path> folders;
  core::WatchOptions options;
};

// Serves every provider of `registry` until a signal has drained the server. Prints
// "listening on http://HOST:PORT" on stdout once it accepts. Throws ListenError when it cannot
// listen. With folders to watch, plugins dropped in, replaced or removed there are served (or
// dropped) as they come, SIGHUP asks for a rescan, and each change is logged (a log line, an
// access-log line) and counted in /metrics.
void run(core::Registry &registry, core::EngineOptions engine_options, ServerOptions options,
         const PluginWatchSettings &watch = {});

}  // namespace provhost::serve
