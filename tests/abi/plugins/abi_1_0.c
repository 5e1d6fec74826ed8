/* A plugin compiled against the frozen ABI 1.0 header (tests/abi/v1_0), the way a third party's plugin built
 * before 1.1 is: the host must load it at 1.0, send it 1.0-sized structs' worth of fields, and chat with it. */
#include "../../broken_plugins/plugins/raw_provider.h"

#if PH_ABI_VERSION_MINOR != 0
#error "this plugin must be built against the frozen ABI 1.0 header"
#endif

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("Abi10");
  return raw_accept(args);
}
