// serve.hpp: `provhost serve` as one call: the server on this thread, the engine on another, until
// SIGINT or SIGTERM has drained the server (a second signal cuts it short).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/system_error.hpp>
#include <optional>
#include <provhost/core/chat.hpp>
#include <provhost/core/registry.hpp>
#include <provhost/serve/server.hpp>
#include <string>

namespace provhost::serve {

// HOST:PORT, [IPv6]:PORT or :PORT (on 127.0.0.1); a host name is resolved to its first address.
// On failure, nullopt and `error` says why.
std::optional<boost::asio::ip::tcp::endpoint> parse_listen(const std::string &text, std::string &error);

// The listening socket could not be set up (address in use, say).
class ListenError : public boost::system::system_error {
 public:
  using boost::system::system_error::system_error;
};

// Serves every provider of `registry` until a signal has drained the server. Prints
// "listening on http://HOST:PORT" on stdout once it accepts. Throws ListenError when it cannot
// listen.
void run(const core::Registry &registry, core::EngineOptions engine_options, ServerOptions options);

}  // namespace provhost::serve
