/* Valid, but linked against a library that cannot be found when it is loaded. */
#include "raw_provider.h"

int provhost_vanished_function(void);

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  if (!provhost_vanished_function()) return PH_REFUSED;
  raw_provider_init("MissingDependency");
  return raw_accept(args);
}
