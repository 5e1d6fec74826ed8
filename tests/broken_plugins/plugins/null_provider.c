/* Says yes but hands out no provider. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("NullProvider");
  raw_accept(args);
  args->provider = NULL;
  return PH_OK;
}
