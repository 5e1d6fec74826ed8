#include "provhost/testing/fake_host.hpp"

#include <cstring>

namespace provhost::testing {
namespace {

std::string_view view_of(ph_str s) { return s.data ? std::string_view(s.data, s.size) : std::string_view(); }

}  // namespace

FakeHost::FakeHost(uint64_t seed, int64_t now_unix_ms) : random_state_(seed), now_unix_ms_(now_unix_ms) {
  table_.struct_size = sizeof table_;
  table_.host_data = this;
  table_.host_name = ph_str{"provhost-testing", std::strlen("provhost-testing")};
  table_.host_version = ph_str{"0", 1};
  table_.log = &FakeHost::log;
  table_.now_unix_ms = &FakeHost::now;
  table_.random_bytes = &FakeHost::random_bytes;
  table_.get_config = &FakeHost::get_config;
  table_.digest = &FakeHost::digest;
}

void FakeHost::set_config(std::string key, std::string value) {
  std::lock_guard lock(mutex_);
  config_[std::move(key)] = std::move(value);
}

void FakeHost::reseed(uint64_t seed) {
  std::lock_guard lock(mutex_);
  random_state_ = seed;
}

void FakeHost::set_now_unix_ms(int64_t now) {
  std::lock_guard lock(mutex_);
  now_unix_ms_ = now;
}

void FakeHost::advance_ms(int64_t milliseconds) {
  std::lock_guard lock(mutex_);
  now_unix_ms_ += milliseconds;
}

std::vector<std::string> FakeHost::log_lines() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> lines;
  for (const LogLine &line : log_) lines.push_back(line.message);
  return lines;
}

std::vector<LogLine> FakeHost::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

void FakeHost::log(const ph_host *host, ph_log_level level, ph_str message) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  self->log_.push_back(LogLine{level, std::string(view_of(message))});
}

int64_t FakeHost::now(const ph_host *host) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  return self->now_unix_ms_;
}

// splitmix64: a fixed, well-mixed byte stream per seed.
void FakeHost::random_bytes(const ph_host *host, void *buffer, size_t size) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  auto *bytes = static_cast<unsigned char *>(buffer);
  for (size_t i = 0; i < size; ++i) {
    uint64_t z = (self->random_state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    bytes[i] = static_cast<unsigned char>(z ^ (z >> 31));
  }
}

ph_str FakeHost::get_config(const ph_host *host, ph_str key) {
  auto *self = static_cast<FakeHost *>(host->host_data);
  std::lock_guard lock(self->mutex_);
  auto found = self->config_.find(view_of(key));
  if (found == self->config_.end()) return ph_str{nullptr, 0};
  return ph_str{found->second.data(), found->second.size()};
}

size_t FakeHost::digest(const ph_host *, ph_str algorithm, ph_str data, uint8_t *out) {
  const std::string raw = testing::digest(view_of(algorithm), view_of(data));
  std::memcpy(out, raw.data(), raw.size());
  return raw.size();
}

std::string digest_hex(std::string_view algorithm, std::string_view data) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest(algorithm, data)) {
    out.push_back(hex[c >> 4]);
    out.push_back(hex[c & 15]);
  }
  return out;
}

}  // namespace provhost::testing
