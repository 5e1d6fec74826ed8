#include "provhost/core/host_services.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <provhost/core/environment_name.hpp>
#include <provhost/testing/fake_host.hpp>
#include <provhost/text.hpp>

#include "platform.hpp"

#ifndef PROVHOST_VERSION
#define PROVHOST_VERSION "0.0.0"
#endif

namespace provhost::core {
namespace {

const HostServices &self(const ph_host *host) { return *static_cast<const HostServices *>(host->host_data); }

std::string_view level_name(ph_log_level level) {
  switch (level) {
    case PH_LOG_DEBUG:
      return "debug";
    case PH_LOG_INFO:
      return "info";
    case PH_LOG_WARNING:
      return "warning";
    default:
      return "error";
  }
}

constexpr std::string_view host_name = "provhost";
constexpr std::string_view host_version = PROVHOST_VERSION;

}  // namespace

HostServices::HostServices(std::string provider_name, std::shared_ptr<const HostSettings> settings)
    : provider_name_(std::move(provider_name)),
      settings_(settings ? std::move(settings) : std::make_shared<const HostSettings>()) {
  table_.struct_size = sizeof table_;
  table_.host_data = this;
  table_.host_name = ph_str{host_name.data(), host_name.size()};
  table_.host_version = ph_str{host_version.data(), host_version.size()};
  table_.log = &HostServices::log;
  table_.now_unix_ms = &HostServices::now_unix_ms;
  table_.random_bytes = &HostServices::random_bytes;
  table_.get_config = &HostServices::get_config;
  table_.digest = &HostServices::digest;
}

void HostServices::log(const ph_host *host, ph_log_level level, ph_str message) {
  if (!log_level_enabled(level, self(host).settings_->log_level)) return;
  std::string line = format_log_line(self(host).provider_name_, level, view(message));
  // One write per line keeps lines from different threads whole.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

int64_t HostServices::now_unix_ms(const ph_host *) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void HostServices::random_bytes(const ph_host *, void *buffer, size_t size) { platform::random_bytes(buffer, size); }

ph_str HostServices::get_config(const ph_host *host, ph_str key) {
  const HostServices &services = self(host);
  const auto &values = services.settings_->provider_config;
  auto found = values.find(config_variable(services.provider_name_, view(key)));
  if (found == values.end() || found->second.empty()) return ph_str{nullptr, 0};
  return ph_str{found->second.data(), found->second.size()};
}

size_t HostServices::digest(const ph_host *, ph_str algorithm, ph_str data, uint8_t *out) {
  return compute_digest(view(algorithm), view(data), out);
}

std::string config_variable(std::string_view provider, std::string_view key) {
  return environment_name({provider, key});
}

bool log_level_enabled(ph_log_level level, ph_log_level threshold) {
  // An unknown level is shown as an error (see level_name), so it is filtered as one.
  bool known = level >= PH_LOG_DEBUG && level <= PH_LOG_ERROR;
  return (known ? level : PH_LOG_ERROR) >= threshold;
}

std::string format_log_line(std::string_view provider, ph_log_level level, std::string_view message) {
  std::string line = "provhost: [";
  line += provider;
  line += "] ";
  line += level_name(level);
  line += ": ";
  append_one_line(line, trim(message));
  line += '\n';
  return line;
}

// The SDK's own MD5, SHA-1 and SHA-256 (sdk/testing/src/digest.cpp, checked against the standards'
// test vectors and against OpenSSL), rather than OpenSSL's: libcrypto would be relocated at every start
// of every process, the host's and each worker's (a third of `provhost list`), for digests plugins
// take of a few hundred bytes.
size_t compute_digest(std::string_view algorithm, std::string_view data, uint8_t *out) {
  if (!out) return 0;
  const std::string digest = testing::digest(algorithm, data);
  std::memcpy(out, digest.data(), digest.size());
  return digest.size();
}

}  // namespace provhost::core
