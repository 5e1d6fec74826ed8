// server.hpp: the HTTP/1.1 server. One thread runs an Asio event loop that accepts connections,
// parses requests with Beast, and writes each reply (see routes.hpp) write by write; any number of
// keep-alive connections, none with a thread of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "state.hpp"

namespace provhost::emulator::detail {

struct ServerLoop;

class Server {
 public:
  explicit Server(State &state);
  ~Server();
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  // Binds and listens before returning; throws std::runtime_error when it cannot.
  void start(uint16_t port, std::string_view host);
  // Closes the listener and every connection, then joins the thread.
  void stop();

  uint16_t port() const { return port_; }
  const std::string &host() const { return host_; }
  std::size_t open_connections() const;

 private:
  State &state_;
  std::unique_ptr<ServerLoop> loop_;
  uint16_t port_ = 0;
  std::string host_ = "127.0.0.1";
};

}  // namespace provhost::emulator::detail
