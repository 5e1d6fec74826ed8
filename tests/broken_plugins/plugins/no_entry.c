/* Exports no provhost_plugin_entry: a shared library that is not a plugin. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_start(ph_entry_args *args) {
  raw_provider_init("NoEntry");
  return raw_accept(args);
}
