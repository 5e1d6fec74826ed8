/* A provider whose name is the empty string. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("");
  return raw_accept(args);
}
