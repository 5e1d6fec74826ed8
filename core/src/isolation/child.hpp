// child.hpp: starting a plugin worker process and telling how it ended.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace provhost::core::isolation {

// A worker started with `channel` as its file descriptor 3 (the host's end stays with the host).
// Its stdin is /dev/null and its stdout goes to the host's stderr, so that nothing a plugin prints
// can be taken for output; stderr is the host's. Dies with its parent (PR_SET_PDEATHSIG).
// `body_region`, when >= 0, becomes its file descriptor 4 (a session worker's body region).
struct Child {
  pid_t pid = -1;
  std::string error;  // why it could not start, when pid is -1
};
Child spawn_worker(const std::filesystem::path &worker, const std::vector<std::string> &args, int channel,
                   int body_region = -1);
inline constexpr int body_region_descriptor = 4;

// "SIGSEGV" for SIGSEGV, "signal 77" for a number without a name.
std::string signal_name(int signal);

// How a worker ended, from waitpid's status, worded to follow "<name> ": "crashed: SIGSEGV",
// "exited with status 0". `while_doing` is appended to both ("while loading").
std::string describe_end(int status, const std::string &while_doing = "");

// Kills `pid` with SIGKILL and waits for it; its wait status.
int kill_and_reap(pid_t pid);

// "5 s", "0.5 s": a duration as the one-line reasons print it.
std::string seconds_text(std::chrono::milliseconds duration);
// "1 GiB", "512 MiB", "1000 bytes": a memory limit as the one-line reasons print it.
std::string memory_text(std::uint64_t bytes);

// Reads until `buffer` holds `size` bytes or the file ends or fails; false then. Retries EINTR.
bool read_exactly(int fd, char *buffer, size_t size);
// Writes all of `data`; false when the other end is gone. Retries EINTR, never raises SIGPIPE.
bool write_all(int fd, const char *data, size_t size);

// poll() for `fd` readable, or `wake_fd` (when >= 0) readable, up to `timeout` (negative: no limit).
enum class Readiness { readable, woken, timed_out };
Readiness wait_readable(int fd, int wake_fd, std::chrono::milliseconds timeout);

}  // namespace provhost::core::isolation
