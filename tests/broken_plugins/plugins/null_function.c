/* A provider without one of the required functions. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("NullFunction");
  raw_provider.next_request = NULL;
  return raw_accept(args);
}
