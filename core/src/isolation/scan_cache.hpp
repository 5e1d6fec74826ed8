// scan_cache.hpp: what scanning each plugin file found, kept between runs in one file of the
// user's cache folder. An entry counts only for the same path, size and modification time; the
// whole file counts only for the same host ABI version and the same worker executable (its size
// and modification time), so that another build of provhost, whose checks may differ, scans again.
// A cache that cannot be read is ignored and rewritten; one that cannot be written is not kept.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "wire.hpp"

namespace provhost::core::isolation {

struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool known = false;  // false: the file could not be looked at, so nothing is cached for it
  bool operator==(const FileStamp &) const = default;
};
FileStamp stamp_of(const std::filesystem::path &file);

class ScanCache {
 public:
  // `folder` "" keeps nothing. Reads the cache file at once.
  ScanCache(std::filesystem::path folder, const std::filesystem::path &worker);

  // The answer kept for `file` with this stamp; false when there is none.
  bool find(const std::filesystem::path &file, const FileStamp &stamp, ScanAnswer &answer) const;
  void store(const std::filesystem::path &file, const FileStamp &stamp, const ScanAnswer &answer);
  // Writes the cache file (a temporary file renamed over it) when something was stored.
  void save();

  // The cache file in `folder`.
  static std::filesystem::path file_in(const std::filesystem::path &folder);

 private:
  struct Entry {
    FileStamp stamp;
    std::string answer;  // the scan frame, as the worker sent it
  };
  std::filesystem::path folder_;
  std::string header_;  // what identifies this host build
  std::map<std::string, Entry> entries_;
  bool changed_ = false;
};

}  // namespace provhost::core::isolation
