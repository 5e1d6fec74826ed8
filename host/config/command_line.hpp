// command_line.hpp: the options that feed the configuration, defined once. `chat` and `serve` add
// the same engine options, so both can set every timeout and the proxy.
#pragma once

#include <CLI/CLI.hpp>

#include "config.hpp"

namespace provhost::host::config {

// --config, --plugin-dir, --upstream: before (or, as a convenience, after) the command.
void add_global_options(CLI::App &app, CommandLine &command_line);

// --isolation, --scan-timeout, --scan-jobs, --plugin-timeout, --plugin-memory, --plugin-cache
// (part of the global options: every command loads plugins).
void add_isolation_options(CLI::App &app, CommandLine &command_line);

// --timeout, --connect-timeout, --first-byte-timeout, --idle-timeout, --proxy.
void add_engine_options(CLI::App &command, CommandLine &command_line);

// --listen, --api-key, --client-timeout, --shutdown-timeout, --max-body, --quiet, --drop-unsupported-params.
void add_serve_options(CLI::App &serve, CommandLine &command_line);

}  // namespace provhost::host::config
