// silent_server.hpp: a port on 127.0.0.1 that accepts connections (the kernel does, into the
// backlog) and never answers: what a hung upstream looks like, for timeout tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

namespace provhost::test {

class SilentServer {
 public:
  // A backlog of 0 fills after a connection or two: the next ones wait in SYN-SENT.
  explicit SilentServer(int backlog = 16) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address = loopback(0);
    socklen_t size = sizeof address;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr *>(&address), size) == 0);
    REQUIRE(::listen(fd_, backlog) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr *>(&address), &size) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer &) = delete;
  SilentServer &operator=(const SilentServer &) = delete;

  int port() const { return port_; }
  sockaddr_in address() const { return loopback(port_); }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }

 protected:
  // The listening socket, for a subclass that does answer (after its own fashion).
  int fd_ = -1;

 private:
  static sockaddr_in loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    return address;
  }

  int port_ = 0;
};

}  // namespace provhost::test
