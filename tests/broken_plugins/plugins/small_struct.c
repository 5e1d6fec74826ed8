/* A ph_provider whose struct_size stops before the session functions. */
#include <stddef.h>

#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("SmallStruct");
  raw_provider.struct_size = offsetof(ph_provider, session_open);
  return raw_accept(args);
}
