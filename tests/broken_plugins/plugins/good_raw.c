/* A valid plugin in plain C: the control that proves the broken ones fail for their defect alone.
 * Its deinit logs "unloading" at debug level and appends "deinit" to the file named by
 * PROVHOST_RAWGOOD_DEINIT_MARKER, if set, so tests can see that the host calls it while the host
 * services still work. */
#include <stdio.h>

#include "raw_provider.h"

static const ph_host *raw_host;

static void raw_deinit(const ph_provider *provider) {
  (void)provider;
  raw_host->log(raw_host, PH_LOG_DEBUG, raw_str("unloading"));
  ph_str marker = raw_host->get_config(raw_host, raw_str("deinit_marker"));
  if (!marker.size) return;
  char path[4096];
  if (marker.size >= sizeof path) return;
  memcpy(path, marker.data, marker.size);
  path[marker.size] = '\0';
  FILE *file = fopen(path, "a");
  if (!file) return;
  fputs("deinit\n", file);
  fclose(file);
}

PH_EXPORT ph_status provhost_plugin_entry(ph_entry_args *args) {
  raw_host = args->host;
  raw_provider_init("RawGood");
  raw_provider.deinit = raw_deinit;
  return raw_accept(args);
}
