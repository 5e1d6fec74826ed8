// commands.hpp: the provhost command line: global options, the commands, and the exit codes.
//
// Each command lives in its own file, host/<name>_command.cpp, and exposes
//   Command add_<name>_command(CLI::App &app, const GlobalOptions &global);
// which adds the subcommand and its options to `app` and returns the subcommand with the function
// that runs it once parsing succeeded. Adding a command is that file, its declaration below, and
// one line in main.cpp's list of commands. Commands report problems on stderr as one line starting
// with "provhost: " and return an ExitCode.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

namespace provhost::host {

// The process's exit status; --help's footer documents them.
enum ExitCode : int {
  exit_ok = 0,
  exit_internal_error = 1,
  exit_usage = 2,     // bad option, unknown provider or model, unreadable or malformed messages file, no prompt
  exit_upstream = 3,  // HTTP status, rate limited, auth, Cloudflare, unreadable answer
  exit_transfer = 4,  // connection, timeout, stalled, truncated
  exit_interrupted = 130,
};

// Options that come before (or, as a convenience, after) the command.
struct GlobalOptions {
  std::vector<std::filesystem::path> plugin_dirs;  // --plugin-dir, searched first, in order
  std::vector<std::string> upstreams;              // --upstream NAME=URL, already checked for form
};

// A parsed subcommand and what runs it.
struct Command {
  CLI::App *app = nullptr;
  std::function<int()> run;
};

Command add_list_command(CLI::App &app, const GlobalOptions &global);
Command add_inspect_command(CLI::App &app, const GlobalOptions &global);
Command add_chat_command(CLI::App &app, const GlobalOptions &global);
Command add_serve_command(CLI::App &app, const GlobalOptions &global);

struct ChatOptions {
  std::string provider;                 // -p; "" = the working providers in order, with fallback
  std::string model;                    // -m; "" = the provider's default; may be "Provider/model"
  std::string system;                   // --system: a system message put first
  std::filesystem::path messages_file;  // --messages: an OpenAI-style messages array; "" = none
  bool no_stream = false;               // --no-stream: ask the upstream for the whole answer at once
  double timeout_sec = 0;               // --timeout: the whole chat; 0 = unset
  double connect_timeout_sec = 0;       // --connect-timeout; 0 = unset
  double first_byte_timeout_sec = 0;    // --first-byte-timeout; 0 = unset
  double idle_timeout_sec = 0;          // --idle-timeout; 0 = unset
  std::string proxy;                    // --proxy URL; "" = the environment's
  std::string prompt;                   // the user message; "-" = read it from stdin; "" = none given
};

// Implemented with the engine, in chat_command.cpp.
int run_chat(const GlobalOptions &global, const ChatOptions &options);

// Loads the plugins of the search path (--plugin-dir, PROVHOST_PLUGIN_PATH, the default folder).
void load_plugins(core::Registry &registry, const GlobalOptions &global);

// --upstream NAME=URL as provider name -> origin.
std::map<std::string, std::string> upstream_origins(const GlobalOptions &global);

// PROVHOST_BACKOFF_SCALE (1 when unset); nullopt with a one-line reason in `error` when malformed.
std::optional<double> backoff_scale_from_environment(std::string &error);

}  // namespace provhost::host
