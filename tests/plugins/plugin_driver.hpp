// plugin_driver.hpp: the bundled plugins' tests drive the built .so files with the SDK's test kit
// (ProvHost::testing: fake host, session driver, contract checks on every call and event), loading
// them with the host's own loader (provhost/core/plugin_abi.hpp), so that loading, the entry
// handshake and metadata validation run on the host's code path. Every session a test drives is
// checked against the ABI's contract when it ends.
#pragma once

#include <provhost/provhost.h>

#include <memory>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/testing/fake_host.hpp>
#include <provhost/testing/session.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace provhost::test {

using testing::Chat;
using testing::chat_of;
using testing::cut_plans;
using testing::FakeHost;
using testing::form_decode;
using testing::Outcome;
using testing::Pairs;
using testing::Request;
using testing::Response;

// Lowercase hex digest computed by OpenSSL, independently of any plugin and of the kit's own digests.
std::string digest_hex(std::string_view algorithm, std::string_view data);

// A plugin file, loaded, negotiated and validated as the host does; throws std::runtime_error with
// the host's reason when it would be rejected. Unloading calls deinit, as the host does.
class Plugin {
 public:
  Plugin(const std::string &path, FakeHost &host, uint32_t offered_version = PH_ABI_VERSION);
  Plugin(const Plugin &) = delete;
  Plugin &operator=(const Plugin &) = delete;

  const ph_provider &provider() const { return *library_->provider(); }
  operator const ph_provider &() const { return provider(); }  // NOLINT(google-explicit-constructor)
  const ph_provider_info &info() const { return *provider().info; }
  uint32_t negotiated_version() const { return library_->negotiated_version(); }

  // The metadata as the host copied it out.
  std::string name() const { return meta_.name; }
  std::string url() const { return meta_.url; }
  std::string default_model() const { return meta_.default_model; }
  std::vector<std::string> models() const { return meta_.models; }
  std::vector<std::string> capabilities() const { return meta_.capabilities; }
  Pairs aliases() const { return meta_.aliases; }

 private:
  std::unique_ptr<core::PluginLibrary> library_;
  core::ProviderMeta meta_;
};

// The kit's session, whose contract violations fail the test when it ends.
class Session : public testing::Session {
 public:
  Session(const Plugin &plugin, const Chat &chat) : testing::Session(plugin, chat) {}
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;
};

// The kit's answer_once, its violations failing the test; what the session reported.
Outcome answer_once(const Plugin &plugin, const Chat &chat, const Response &response,
                    const std::vector<size_t> &cuts = {});

}  // namespace provhost::test
