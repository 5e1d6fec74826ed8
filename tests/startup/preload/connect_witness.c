// A library to preload (LD_PRELOAD) that interposes on connect(), as torsocks or proxychains do: it
// says so on stderr, then connects. The engine module's libcurl must still call it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int connect_function(int, const struct sockaddr *, socklen_t);

int connect(int socket, const struct sockaddr *address, socklen_t length) {
  static const char line[] = "connect_witness: connect\n";
  ssize_t ignored = write(2, line, sizeof line - 1);
  (void)ignored;
  connect_function *next = (connect_function *)dlsym(RTLD_NEXT, "connect");
  return next(socket, address, length);
}
