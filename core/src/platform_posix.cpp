// The platform layer for POSIX systems (Linux, macOS).
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "platform.hpp"

#if defined(__linux__)
#include <sys/inotify.h>
#include <sys/random.h>
#endif

namespace provhost::core::platform {

std::string shared_library_suffix() { return boost::dll::shared_library::suffix().string(); }

std::optional<std::filesystem::path> executable_path() {
  // Asked once: the executable does not change while it runs, and each question is a stat and a
  // readlink of /proc/self/exe (a chat asked four times: the plugin folder, the worker, each spawn).
  static const std::optional<std::filesystem::path> path = []() -> std::optional<std::filesystem::path> {
    boost::dll::fs::error_code error;
    boost::dll::fs::path location = boost::dll::program_location(error);
    if (error || location.empty()) return std::nullopt;
    return std::filesystem::path(location.string());
  }();
  return path;
}

char path_list_separator() { return ':'; }

void random_bytes(void *buffer, std::size_t size) {
  // The kernel's generator, not OpenSSL's: as good, and it spares every chat OpenSSL's start-up
  // (about 1 ms of CPU, measured with scripts/bench).
  auto *bytes = static_cast<unsigned char *>(buffer);
  while (size > 0) {
#if defined(__linux__)
    ssize_t n = ::getrandom(bytes, size, 0);
#else
    // getentropy gives at most 256 bytes per call.
    std::size_t chunk = size < 256 ? size : 256;
    ssize_t n = ::getentropy(bytes, chunk) == 0 ? static_cast<ssize_t>(chunk) : -1;
#endif
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fputs("provhost: error: no source of random bytes\n", stderr);
      std::abort();
    }
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
}

std::optional<FileIdentity> file_identity(const std::filesystem::path &path, std::string &error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  return FileIdentity{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
                      static_cast<std::uint64_t>(info.st_size),
                      static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

PinnedFile::~PinnedFile() {
  if (fd >= 0) ::close(fd);
}

std::shared_ptr<const PinnedFile> pin_file(const std::filesystem::path &file) {
#if defined(__linux__)
  auto pinned = std::make_shared<PinnedFile>();
  pinned->fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat info {};
  if (pinned->fd < 0 || ::fstat(pinned->fd, &info) != 0) return nullptr;
  pinned->identity =
      FileIdentity{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
                   static_cast<std::uint64_t>(info.st_size),
                   static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
  pinned->path = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(pinned->fd);
  return pinned;
#else
  (void)file;
  return nullptr;
#endif
}

FolderChanges::FolderChanges(const std::vector<std::filesystem::path> &folders) {
  int ends[2];
  if (::pipe(ends) == 0) {
    wake_read_ = ends[0];
    wake_write_ = ends[1];
    for (int fd : ends) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
    }
  }
#if defined(__linux__)
  watch_fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (watch_fd_ < 0) return;
  constexpr uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY |
                            IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
  for (const auto &folder : folders) ::inotify_add_watch(watch_fd_, folder.c_str(), mask);
#else
  (void)folders;
#endif
}

FolderChanges::~FolderChanges() {
  for (int fd : {watch_fd_, wake_read_, wake_write_}) {
    if (fd >= 0) ::close(fd);
  }
}

bool FolderChanges::wait(std::chrono::milliseconds timeout) {
  pollfd fds[2] = {{watch_fd_, POLLIN, 0}, {wake_read_, POLLIN, 0}};
  int ready =
      ::poll(fds, 2, timeout.count() < 0 ? -1 : static_cast<int>(std::min<long long>(timeout.count(), 1 << 30)));
  if (ready <= 0) return false;
  // What is pending is only a sign to look: the caller compares the folders with what it knows.
  char buffer[4096];
  for (const pollfd &fd : fds) {
    if (fd.fd >= 0 && fd.revents) {
      while (::read(fd.fd, buffer, sizeof buffer) > 0) {
      }
    }
  }
  return true;
}

void FolderChanges::wake() {
  const char one = 1;
  ssize_t ignored = ::write(wake_write_, &one, 1);
  (void)ignored;
}

}  // namespace provhost::core::platform
