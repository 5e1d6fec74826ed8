// platform.hpp: what differs between operating systems, in one place. Core code calls these instead
// of reaching for POSIX or Linux directly; platform_posix.cpp implements them for Linux and macOS,
// and another system needs only its own platform_<system>.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::core::platform {

// The file name ending of a loadable library: ".so" here, ".dylib" on macOS, ".dll" on Windows.
std::string shared_library_suffix();

// The running executable's own path; nullopt when the system cannot say.
std::optional<std::filesystem::path> executable_path();

// What separates folders in a search-path variable: ':' here, ';' on Windows.
char path_list_separator();

// Fills `buffer` from the system's cryptographic generator. There is no sensible way on when the
// system has none, so that ends the process with a message.
void random_bytes(void *buffer, std::size_t size);

// What makes a file the same file whatever the path it was reached by (links, two folders): device
// and file; and what tells one version of its content from the next: size and modification time.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t file = 0;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// The identity of `path` (following links), or nullopt with the system's one-line reason in `error`.
std::optional<FileIdentity> file_identity(const std::filesystem::path &path, std::string &error);

// A file held open, so that this very version of it can still be opened by `path` (from this
// process and its children) after its own path was replaced or removed: a worker started late
// for an old plugin version loads that version, not whatever the folder holds by then.
struct PinnedFile {
  PinnedFile() = default;
  ~PinnedFile();
  PinnedFile(const PinnedFile &) = delete;
  PinnedFile &operator=(const PinnedFile &) = delete;
  int fd = -1;
  std::filesystem::path path;  // /proc/<this process>/fd/<fd>
  FileIdentity identity;       // of what was opened
};
// Opens `file` and pins it; null when it cannot be opened or the system has no such path.
std::shared_ptr<const PinnedFile> pin_file(const std::filesystem::path &file);

// Waits for a change in some folders (files created, written, moved or deleted there) or for a
// wake-up from another thread. Linux watches with inotify; a system without such a facility only
// wakes on time-outs and wake(), so its callers rescan on a period as well.
class FolderChanges {
 public:
  // Watches the folders that exist now; one that appears later is found by the caller's rescans.
  explicit FolderChanges(const std::vector<std::filesystem::path> &folders);
  ~FolderChanges();
  FolderChanges(const FolderChanges &) = delete;
  FolderChanges &operator=(const FolderChanges &) = delete;

  // Whether the system reports changes at all (false: time-outs and wake() only).
  bool watching() const { return watch_fd_ >= 0; }
  // Waits up to `timeout` (negative: no limit). True when a folder changed or wake() was called;
  // what the system reported is consumed.
  bool wait(std::chrono::milliseconds timeout);
  // Ends a wait() now, or the next one at once; thread-safe and async-signal-safe.
  void wake();

 private:
  int watch_fd_ = -1;
  int wake_read_ = -1;
  int wake_write_ = -1;
};

}  // namespace provhost::core::platform
