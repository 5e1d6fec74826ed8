#include "plugin_driver.hpp"

#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <stdexcept>

namespace provhost::test {

std::string digest_hex(std::string_view algorithm, std::string_view data) {
  const EVP_MD *md = EVP_get_digestbyname(std::string(algorithm).c_str());
  uint8_t raw[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!md || !EVP_Digest(data.data(), data.size(), raw, &size, md, nullptr)) return {};
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out.push_back(hex[raw[i] >> 4]);
    out.push_back(hex[raw[i] & 15]);
  }
  return out;
}

Plugin::Plugin(const std::string &path, FakeHost &host, uint32_t offered_version) {
  core::PluginLibraryLoad load = core::load_plugin_library(path, *host.table(), offered_version);
  if (!load.library) throw std::runtime_error(path + ": " + load.error);
  library_ = std::move(load.library);
  meta_ = std::move(load.meta);
}

Session::~Session() {
  close();
  for (const std::string &violation : violations()) FAIL_CHECK("contract violated: " << violation);
}

Outcome answer_once(const Plugin &plugin, const Chat &chat, const Response &response, const std::vector<size_t> &cuts) {
  testing::Run run = testing::answer_once(plugin, chat, response, cuts);
  if (!run.violations.empty()) throw std::logic_error("contract violated: " + run.violations.front());
  return run.outcome;
}

}  // namespace provhost::test
