/* Refuses to load, saying why. */
#include <provhost/provhost.h>

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  static const char reason[] = "needs a licence key that is not installed";
  args->refusal.data = reason;
  args->refusal.size = sizeof reason - 1;
  return PH_REFUSED;
}
