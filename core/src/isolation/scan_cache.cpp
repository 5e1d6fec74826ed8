#include "scan_cache.hpp"

#include <provhost/provhost.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace provhost::core::isolation {
namespace {

constexpr std::string_view magic = "provhost scan cache 1\n";
// Entries (of files scanned by earlier runs too) beyond this count are dropped, in path order.
constexpr size_t max_entries = 20'000;

std::string absolute_text(const std::filesystem::path &file) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(file, error);
  return (error ? file : absolute).lexically_normal().string();
}

}  // namespace

FileStamp stamp_of(const std::filesystem::path &file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) return {};
  return {static_cast<std::uint64_t>(info.st_size),
          static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec, true};
}

std::filesystem::path ScanCache::file_in(const std::filesystem::path &folder) { return folder / "plugins.cache"; }

ScanCache::ScanCache(std::filesystem::path folder, const std::filesystem::path &worker) : folder_(std::move(folder)) {
  if (folder_.empty()) return;
  FileStamp worker_stamp = stamp_of(worker);
  std::string header;
  WireWriter w(header);
  w.str(magic);
  w.u32(PH_ABI_VERSION);
  w.u64(worker_stamp.size);
  w.u64(static_cast<std::uint64_t>(worker_stamp.mtime_ns));
  header_ = std::move(header);

  std::ifstream in(file_in(folder_), std::ios::binary);
  if (!in) return;
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (content.compare(0, header_.size(), header_) != 0) return;
  WireReader r(std::string_view(content).substr(header_.size()));
  uint32_t count = r.count(3 * sizeof(uint32_t));
  std::map<std::string, Entry> entries;
  std::string path;
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    r.str(path);
    Entry entry;
    entry.stamp.size = r.u64();
    entry.stamp.mtime_ns = static_cast<std::int64_t>(r.u64());
    entry.stamp.known = true;
    r.str(entry.answer);
    entries[path] = std::move(entry);
  }
  if (r.at_end()) entries_ = std::move(entries);
}

bool ScanCache::find(const std::filesystem::path &file, const FileStamp &stamp, ScanAnswer &answer) const {
  if (folder_.empty() || !stamp.known) return false;
  auto found = entries_.find(absolute_text(file));
  if (found == entries_.end() || !(found->second.stamp == stamp)) return false;
  WireReader r(found->second.answer);
  answer = ScanAnswer{};
  return read_scan(r, answer);
}

void ScanCache::store(const std::filesystem::path &file, const FileStamp &stamp, const ScanAnswer &answer) {
  if (folder_.empty() || !stamp.known) return;
  std::string frame;
  WireWriter w(frame);
  write_scan(w, answer);
  // Kept without the frame's length and type, as read_scan reads it.
  entries_[absolute_text(file)] = Entry{stamp, frame.substr(sizeof(uint32_t) + 1)};
  changed_ = true;
}

void ScanCache::save() {
  if (folder_.empty() || !changed_) return;
  while (entries_.size() > max_entries) entries_.erase(entries_.begin());
  std::string content = header_;
  WireWriter w(content);
  w.u32(static_cast<uint32_t>(entries_.size()));
  for (const auto &[path, entry] : entries_) {
    w.str(path);
    w.u64(entry.stamp.size);
    w.u64(static_cast<std::uint64_t>(entry.stamp.mtime_ns));
    w.str(entry.answer);
  }
  std::error_code error;
  std::filesystem::create_directories(folder_, error);
  // Another provhost may save at the same time: each writes its own temporary file, and the
  // rename makes one of them the cache, whole.
  std::filesystem::path temporary = file_in(folder_);
  temporary += std::string(".tmp.") += std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) {
      std::filesystem::remove(temporary, error);
      return;
    }
  }
  std::filesystem::rename(temporary, file_in(folder_), error);
  if (error) std::filesystem::remove(temporary, error);
}

}  // namespace provhost::core::isolation
