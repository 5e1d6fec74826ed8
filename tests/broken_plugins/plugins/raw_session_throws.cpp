// Loads fine, but its on_body throws a C++ exception into the host (the raw ABI has no guard).
#include <provhost/provhost.h>

#include <stdexcept>

static ph_status raw_throwing_on_body(ph_session *, ph_str) { throw std::runtime_error("on_body exploded"); }
#define RAW_ON_BODY raw_throwing_on_body
#include "raw_provider.h"

extern "C" PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_provider_init("RawThrower");
  return raw_accept(args);
}
