#include "child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

extern char **environ;

namespace provhost::core::isolation {

Child spawn_worker(const std::filesystem::path &worker, const std::vector<std::string> &args, int channel,
                   int body_region) {
  Child child;
  std::vector<std::string> argv_storage;
  argv_storage.push_back(worker.string());
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char *> argv;
  for (auto &arg : argv_storage) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, 2, 1);
  posix_spawn_file_actions_adddup2(&actions, channel, 3);
  int first_closed = body_region_descriptor;
  if (body_region >= 0) {
    posix_spawn_file_actions_adddup2(&actions, body_region, body_region_descriptor);
    first_closed = body_region_descriptor + 1;
  }
  // Descriptors of the host (sockets of other chats, other workers' channels) must not leak into
  // a worker: everything past its own is closed.
  posix_spawn_file_actions_addclosefrom_np(&actions, first_closed);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults, none;
  sigemptyset(&none);
  sigfillset(&defaults);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int error = posix_spawn(&child.pid, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    child.pid = -1;
    child.error = "cannot start " + worker.string() + ": " + std::strerror(error);
  }
  return child;
}

std::string signal_name(int signal) {
  if (const char *abbreviation = sigabbrev_np(signal)) return std::string("SIG") + abbreviation;
  return "signal " + std::to_string(signal);
}

std::string describe_end(int status, const std::string &while_doing) {
  std::string suffix = while_doing.empty() ? "" : " " + while_doing;
  if (WIFSIGNALED(status)) return "crashed" + suffix + ": " + signal_name(WTERMSIG(status));
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status)) + suffix;
  return "ended" + suffix;
}

int kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string seconds_text(std::chrono::milliseconds duration) {
  double seconds = static_cast<double>(duration.count()) / 1000.0;
  char text[32];
  if (seconds == std::floor(seconds))
    std::snprintf(text, sizeof text, "%.0f s", seconds);
  else
    std::snprintf(text, sizeof text, "%g s", seconds);
  return text;
}

std::string memory_text(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, const char *> units[] = {
      {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (const auto &[size, name] : units) {
    if (bytes >= size && bytes % size == 0) return std::to_string(bytes / size) + " " + name;
  }
  return std::to_string(bytes) + " bytes";
}

bool read_exactly(int fd, char *buffer, size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, buffer, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

Readiness wait_readable(int fd, int wake_fd, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<long long>(0, left.count()));
    }
    int ready = ::poll(fds, wake_fd >= 0 ? 2 : 1, wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Readiness::readable;  // the read that follows reports the failure
    if (wake_fd >= 0 && fds[1].revents) return Readiness::woken;
    if (fds[0].revents) return Readiness::readable;
    if (timeout.count() >= 0 && std::chrono::steady_clock::now() >= deadline) return Readiness::timed_out;
  }
}

}  // namespace provhost::core::isolation
