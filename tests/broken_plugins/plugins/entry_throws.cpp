// An entry function that throws a C++ exception into the host.
#include <provhost/provhost.h>

#include <stdexcept>

extern "C" PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *) {
  throw std::runtime_error("the entry function gave up");
}
