/* Answers a newer minor than the host offered, instead of the host's own. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("NewerMinor");
  raw_accept(args);
  args->plugin_abi_version =
      PH_MAKE_VERSION(PH_VERSION_MAJOR(args->host_abi_version), PH_VERSION_MINOR(args->host_abi_version) + 1);
  return PH_OK;
}
