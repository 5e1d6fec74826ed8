/* Built twice (provhost-broken-twin-a.so and -b.so): two plugins with the same provider name. */
#include "raw_provider.h"

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("Twin");
  return raw_accept(args);
}
