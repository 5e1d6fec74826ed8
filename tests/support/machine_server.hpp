// machine_server.hpp: a server program of the machine's (a proxy, a load balancer) started by a
// test on a free port of 127.0.0.1, and the port helpers it needs.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "support/process.hpp"

namespace provhost::test {

// A port of 127.0.0.1 that was free a moment ago.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&address), size) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &size) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

inline bool accepts_connections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool connected = ::connect(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

// Waits, at most `limit`, for a freshly started server to listen on `port`.
inline bool wait_until_listening(BackgroundProcess &server, int port, std::chrono::milliseconds limit) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (accepts_connections(port)) return true;
    if (server.wait(std::chrono::milliseconds(20))) return false;  // it died
  }
  return false;
}

// A port found free may be taken again before the server binds it, so a server that dies at once
// is started again on another port. A server that is not installed fails the test: scripts/deps
// installs every one the tests use, and a skip must not pass for a pass.
class MachineServer {
 public:
  int port = 0;

  std::string url(const std::string &scheme) const { return scheme + "://127.0.0.1:" + std::to_string(port); }
  std::string log() const { return process_ ? process_->err() : ""; }
  BackgroundProcess &process() { return *process_; }

 protected:
  // `argv_for(port)`: the command line that serves on `port`.
  template <class ArgvFor>
  void start(const std::string &program, ArgvFor &&argv_for) {
    if (!std::filesystem::exists(program)) FAIL(program << " is not installed (scripts/deps installs it)");
    bool ready = false;
    for (int attempt = 0; attempt < 3 && !ready; ++attempt) {
      port = free_port();
      process_ = std::make_unique<BackgroundProcess>(argv_for(port));
      ready = wait_until_listening(*process_, port, std::chrono::seconds(10));
    }
    INFO(program << " output: " << log());
    REQUIRE(ready);
  }

 private:
  std::unique_ptr<BackgroundProcess> process_;
};

}  // namespace provhost::test
