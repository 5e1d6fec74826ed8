// The platform layer for POSIX systems (Linux, macOS).
#include <sys/stat.h>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "platform.hpp"

#if defined(__linux__)
#include <sys/random.h>
#else
#include <unistd.h>  // getentropy
#endif

namespace provhost::core::platform {

std::string shared_library_suffix() { return boost::dll::shared_library::suffix().string(); }

std::optional<std::filesystem::path> executable_path() {
  boost::dll::fs::error_code error;
  boost::dll::fs::path location = boost::dll::program_location(error);
  if (error || location.empty()) return std::nullopt;
  return std::filesystem::path(location.string());
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
  return FileIdentity{static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino)};
}

}  // namespace provhost::core::platform
