/* Answers ABI 2.0 to a host that offers 1.x. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("WrongMajor");
  raw_accept(args);
  args->plugin_abi_version = PH_MAKE_VERSION(2, 0);
  return PH_OK;
}
