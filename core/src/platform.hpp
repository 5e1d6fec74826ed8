// platform.hpp: what differs between operating systems, in one place. Core code calls these instead
// of reaching for POSIX or Linux directly; platform_posix.cpp implements them for Linux and macOS,
// and another system needs only its own platform_<system>.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

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

// What makes a file the same file whatever the path it was reached by (links, two folders).
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t file = 0;
  auto operator<=>(const FileIdentity &) const = default;
};

// The identity of `path` (following links), or nullopt with the system's one-line reason in `error`.
std::optional<FileIdentity> file_identity(const std::filesystem::path &path, std::string &error);

}  // namespace provhost::core::platform
