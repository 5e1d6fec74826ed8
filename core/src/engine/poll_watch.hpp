// poll_watch.hpp: a descriptor that the engine's poll watches beside libcurl's sockets for someone
// else (a session backend talking to its worker processes), and what the poll found on it.
#pragma once

namespace provhost::core::engine {

struct PollWatch {
  int fd = -1;
  short events = 0;   // POLLIN, POLLOUT
  short revents = 0;  // filled by the poll: POLLIN, POLLOUT (libcurl reports a hang-up as POLLIN)
};

}  // namespace provhost::core::engine
