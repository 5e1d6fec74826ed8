/* A default model that is not among the models it lists. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("BadDefault");
  raw_info.default_model = raw_str("not-listed");
  return raw_accept(args);
}
