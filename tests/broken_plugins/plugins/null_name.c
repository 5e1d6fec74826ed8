/* A provider without a name. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init(NULL);
  return raw_accept(args);
}
