// plugin.hpp: a plugin under test, loaded as the host loads it: its entry called with a FakeHost's
// table and a version offer, the answer checked against the handshake's rules (provhost.h), and
// its metadata against the metadata rules. Unloading calls deinit when the table has it.
#pragma once

#include <provhost/provhost.h>

#include <string>

#include "provhost/testing/fake_host.hpp"

namespace provhost::testing {

class Plugin {
 public:
  // Loads the shared library at `path` (dlopen); throws std::runtime_error, naming the file and the
  // reason, when it cannot be loaded or its entry refuses.
  Plugin(const std::string &path, FakeHost &host, uint32_t offered_version = PH_ABI_VERSION);
  // A plugin linked into the test: its entry function, called directly.
  Plugin(ph_entry_fn entry, FakeHost &host, uint32_t offered_version = PH_ABI_VERSION);
  ~Plugin();
  Plugin(const Plugin &) = delete;
  Plugin &operator=(const Plugin &) = delete;

  const ph_provider &provider() const { return *provider_; }
  const ph_provider_info &info() const { return *provider_->info; }
  operator const ph_provider &() const {
    return *provider_;
  }  // NOLINT(google-explicit-constructor): a Plugin is used where a provider is
  uint32_t negotiated_version() const { return negotiated_; }
  // What the entry's answer or the metadata break of the contract; empty when nothing.
  const std::string &defect() const { return defect_; }

 private:
  void enter(ph_entry_fn entry, FakeHost &host, uint32_t offered_version, const std::string &what);

  void *library_ = nullptr;  // dlopen's handle; null for a linked-in plugin
  const ph_provider *provider_ = nullptr;
  uint32_t negotiated_ = 0;
  std::string defect_;
};

// The handshake alone, for checks of version negotiation: calls `entry` offering `offered_version`
// and returns what is wrong with its answer ("" when it kept the rules: the offered major, a minor no
// newer than offered, a provider on PH_OK; or PH_REFUSED for another major).
std::string handshake_defect(ph_entry_fn entry, const FakeHost &host, uint32_t offered_version);

}  // namespace provhost::testing
