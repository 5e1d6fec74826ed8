// commands.hpp: the provhost command line: global options, the commands, and the exit codes.
//
// Each command lives in its own file, host/<name>_command.cpp, and exposes
//   Command add_<name>_command(CLI::App &app, const GlobalOptions &global);
// which adds the subcommand and its options to `app` and returns the subcommand with the function
// that runs it once parsing succeeded and the configuration is loaded. A command with options that
// belong to the configuration (chat, serve) takes `GlobalOptions &` and adds them with the
// functions of config/command_line.hpp, which fill global.command_line. Adding a command is that file, its declaration
// below, and one line in main.cpp's list of commands. Commands report problems on stderr as one line starting with
// "provhost: " and return an ExitCode. chat and serve are the exception: their command lines are in
// engine_commands.cpp, and what runs them (chat_command.cpp, serve_command.cpp) in the engine module, since
// they alone need libcurl (engine_module.hpp).
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <provhost/core/error.hpp>
#include <provhost/core/registry.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace provhost::host {

// The process's exit status (core/error.hpp); --help's footer documents them.
using core::exit_internal_error;
using core::exit_interrupted;
using core::exit_ok;
using core::exit_transfer;
using core::exit_upstream;
using core::exit_usage;
using core::exit_validation_failed;
using core::ExitCode;

// What every command gets: the command line as parsed, and the configuration it leads to.
struct GlobalOptions {
  config::CommandLine command_line;  // filled while parsing
  config::Config config;             // the effective configuration, loaded before any command runs
};

// A parsed subcommand and what runs it.
struct Command {
  CLI::App *app = nullptr;
  std::function<int()> run;
};

// Adds the subcommand `name`, whose options `add_options` adds only once the command line chose it:
// every command's options, built at every start, were a quarter of what `provhost list` ran.
inline CLI::App *add_command_with_deferred_options(CLI::App &app, std::string name, std::string description,
                                                   std::function<void(CLI::App &)> add_options) {
  CLI::App *command = app.add_subcommand(std::move(name), std::move(description));
  command->preparse_callback([command, add_options = std::move(add_options)](std::size_t) { add_options(*command); });
  return command;
}

Command add_list_command(CLI::App &app, const GlobalOptions &global);
Command add_inspect_command(CLI::App &app, const GlobalOptions &global);
Command add_chat_command(CLI::App &app, GlobalOptions &global);
Command add_serve_command(CLI::App &app, GlobalOptions &global);
Command add_config_command(CLI::App &app, GlobalOptions &global);
Command add_validate_command(CLI::App &app, const GlobalOptions &global);

// What only `chat` has; the engine's options (timeouts, proxy) are in the configuration.
struct ChatOptions {
  std::string provider;                      // -p; "" = the working providers in order, with fallback
  std::string model;                         // -m; "" = the provider's default; may be "Provider/model"
  std::string system;                        // --system: a system message put first
  std::filesystem::path messages_file;       // --messages: an OpenAI-style messages array; "" = none
  bool no_stream = false;                    // --no-stream: ask the upstream for the whole answer at once
  std::string prompt;                        // the user message; "-" = read it from stdin; "" = none given
  std::vector<std::string> request_options;  // -o KEY=VALUE, in the order given
  bool verbose = false;                      // -v: say on stderr which provider and model answered
  bool usage = false;                        // --usage: token counts and finish reason on stderr
  std::filesystem::path record;              // --record: the chat's upstream exchanges as HAR; "" = none
};

// What plugins' host services answer (provider values, log level): give it to the Registry.
std::shared_ptr<const core::HostSettings> host_settings(const GlobalOptions &global);

// The plugin folders in search order: the configuration's, then the default folder.
std::vector<std::filesystem::path> plugin_folders(const GlobalOptions &global);

// Makes `registry` load plugins in worker processes unless the configuration says --isolation none.
void isolate_plugins(core::Registry &registry, const GlobalOptions &global);

// Loads the plugins of plugin_folders(), with the configuration's say in model resolution. A command
// that can use one provider only (chat -p NAME) names it: loaded in this process (--isolation none),
// the files after the one that yields it are then left alone (Registry::load_until).
void load_plugins(core::Registry &registry, const GlobalOptions &global, std::string_view only_provider = {});

}  // namespace provhost::host
