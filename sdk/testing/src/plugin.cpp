#include "provhost/testing/plugin.hpp"

#include <dlfcn.h>

#include <cstring>
#include <stdexcept>

#include "provhost/testing/contract.hpp"

namespace provhost::testing {
namespace {

std::string version_text(uint32_t version) {
  return std::to_string(PH_VERSION_MAJOR(version)) + "." + std::to_string(PH_VERSION_MINOR(version));
}

}  // namespace

Plugin::Plugin(const std::string &path, FakeHost &host, uint32_t offered_version) {
  library_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library_) {
    const char *reason = ::dlerror();
    throw std::runtime_error(path + ": not loadable: " + (reason ? reason : "unknown reason"));
  }
  void *symbol = ::dlsym(library_, PH_ENTRY_SYMBOL);
  if (!symbol) {
    ::dlclose(library_);
    throw std::runtime_error(path + ": no entry symbol " PH_ENTRY_SYMBOL);
  }
  ph_entry_fn entry;
  static_assert(sizeof entry == sizeof symbol, "a function pointer fits a data pointer (POSIX)");
  std::memcpy(&entry, &symbol, sizeof entry);
  try {
    enter(entry, host, offered_version, path);
  } catch (...) {
    ::dlclose(library_);
    throw;
  }
}

Plugin::Plugin(ph_entry_fn entry, FakeHost &host, uint32_t offered_version) {
  enter(entry, host, offered_version, "the plugin");
}

void Plugin::enter(ph_entry_fn entry, FakeHost &host, uint32_t offered_version, const std::string &what) {
  ph_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = offered_version;
  args.host = host.table();
  const ph_status status = entry(&args);
  if (status == PH_REFUSED)
    throw std::runtime_error(what + ": refused to load: " +
                             printable(std::string_view(args.refusal.data ? args.refusal.data : "",
                                                        args.refusal.data ? args.refusal.size : 0)));
  if (status != PH_OK) throw std::runtime_error(what + ": the entry returned status " + std::to_string(status));
  if (!args.provider) throw std::runtime_error(what + ": the entry returned no provider");
  provider_ = args.provider;
  negotiated_ = args.plugin_abi_version;
  if (PH_VERSION_MAJOR(negotiated_) != PH_VERSION_MAJOR(offered_version) ||
      PH_VERSION_MINOR(negotiated_) > PH_VERSION_MINOR(offered_version)) {
    defect_ =
        "the entry answered ABI " + version_text(negotiated_) + " to an offer of " + version_text(offered_version);
  } else if (auto defect = metadata_defect(*provider_)) {
    defect_ = *defect;
  }
  if (!defect_.empty() && PH_VERSION_MAJOR(negotiated_) != PH_VERSION_MAJOR(offered_version)) {
    // Another major's tables cannot be read: nothing of it may be called, not even deinit.
    provider_ = nullptr;
    throw std::runtime_error(what + ": " + defect_);
  }
  if (!provider_->info || !provider_->session_open) throw std::runtime_error(what + ": " + defect_);
}

Plugin::~Plugin() {
  if (provider_ && PH_HAS_FIELD(provider_, ph_provider, deinit) && provider_->deinit) provider_->deinit(provider_);
  if (library_) ::dlclose(library_);
}

std::string handshake_defect(ph_entry_fn entry, const FakeHost &host, uint32_t offered_version) {
  ph_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = offered_version;
  args.host = host.table();
  const ph_status status = entry(&args);
  const bool same_major = PH_VERSION_MAJOR(offered_version) == PH_ABI_VERSION_MAJOR;
  if (status == PH_REFUSED) return same_major ? "refused an offer of ABI " + version_text(offered_version) : "";
  if (status != PH_OK) return "the entry returned status " + std::to_string(status);
  if (!same_major) return "accepted an offer of ABI " + version_text(offered_version) + ", another major";
  if (PH_VERSION_MAJOR(args.plugin_abi_version) != PH_VERSION_MAJOR(offered_version) ||
      PH_VERSION_MINOR(args.plugin_abi_version) > PH_VERSION_MINOR(offered_version))
    return "answered ABI " + version_text(args.plugin_abi_version) + " to an offer of " + version_text(offered_version);
  if (!args.provider) return "returned PH_OK without a provider";
  return "";
}

}  // namespace provhost::testing
