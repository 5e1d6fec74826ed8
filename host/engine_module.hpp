// engine_module.hpp: the one interface between the provhost executable and its engine module.
//
// Only `chat` and `serve` make requests, and with them comes libcurl and the dozens of libraries it
// needs, which the dynamic loader used to relocate at every start of every command. So the
// executable links no libcurl: the code of chat and serve (the engine, the serve library, their
// commands) is a shared library of its own, libprovhost-engine.so, in lib/provhost/ next to the
// plugin folder (the same layout in the build tree as in an install), loaded with Boost.DLL only
// when one of those two commands runs. The executable parses the command line and loads the
// configuration as for every command, then hands both over; the module returns the exit code. (The
// configuration's check of an --upstream URL, libcurl's URL parser, is the module's too.)
//
// The interface is C++ (references to the parsed options), not a C ABI like the plugins': the
// executable and its module are built together by one build with one compiler and one set of
// flags, installed together and never mixed across versions, so their C++ types are the same.
#pragma once

#include <filesystem>
#include <variant>

#include "commands.hpp"

namespace provhost::host {

// What only `serve` has besides the configuration.
struct ServeOptions {
  std::filesystem::path record_dir;  // --record: each chat's upstream exchanges as HAR; "" = none
};

// A command for the engine module: the options every command has, and the command's own.
struct EngineCommand {
  const GlobalOptions &global;
  std::variant<ChatOptions, ServeOptions> command;
};

// What the module exports, as one variable by this name: running a command, and libcurl's URL parser
// for the configuration's upstream overrides (config::UpstreamParsers), asked for only when there is
// one to check.
struct EngineModule {
  // Runs the command and ends the process with its exit code (ExitCode), skipping exit handlers
  // (engine_entry.cpp); a sanitized build returns the code instead. Throws nothing: an unexpected
  // exception is reported as an internal error.
  int (*run)(const EngineCommand &command) = nullptr;
  config::UpstreamParsers upstream_parsers;
};
inline constexpr const char *engine_module_symbol = "provhost_engine_module";

// Implemented in the executable: load the engine module and run `command` in it. A module that is
// missing or cannot be loaded is one line on stderr and exit_internal_error.
int run_in_engine_module(const EngineCommand &command);
// Parsers that forward to the module's, loading it at the first call; one that cannot be loaded is
// a config::Error naming it.
config::UpstreamParsers engine_module_upstream_parsers();

// Implemented in the module, each in its command's file.
int run_chat(const GlobalOptions &global, const ChatOptions &options);
int run_serve(const GlobalOptions &global, const ServeOptions &options);

}  // namespace provhost::host
