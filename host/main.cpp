// provhost: parses the command line and hands over to the chosen command (see commands.hpp; chat and
// serve run in the engine module, engine_module.hpp).
#include <provhost/provhost.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "config/command_line.hpp"
#include "engine_module.hpp"

#ifndef PROVHOST_VERSION
#define PROVHOST_VERSION "0.0.0"
#endif

namespace provhost::host {
namespace {

#define PROVHOST_STRINGIFY_VALUE(x) #x
#define PROVHOST_STRINGIFY(x) PROVHOST_STRINGIFY_VALUE(x)
constexpr const char *version_line =
    "provhost " PROVHOST_VERSION
    " (plugin ABI " PROVHOST_STRINGIFY(PH_ABI_VERSION_MAJOR) "." PROVHOST_STRINGIFY(PH_ABI_VERSION_MINOR) ")";

constexpr const char *help_footer = R"(Exit codes:
  0    ok
  1    internal error
  2    usage error: bad option or configuration, unknown provider or model, unreadable or malformed messages
       file, no prompt
  3    upstream error: HTTP status, rate limited, auth, Cloudflare, unreadable answer
  4    transfer failure: connection, timeout, stalled, truncated
  5    validate: a check failed
  130  interrupted

Configuration: command line > environment > configuration file > defaults; `provhost config`
shows every value and where it came from. The file is TOML: --config FILE, else
$XDG_CONFIG_HOME/provhost/config.toml (~/.config/provhost/config.toml) when it exists.

Environment:
  PROVHOST_PLUGIN_PATH        more plugin folders, colon separated (after --plugin-dir)
  PROVHOST_UPSTREAM_<NAME>    like --upstream NAME=URL
  PROVHOST_<NAME>_<KEY>       configuration value KEY for provider NAME ([providers.NAME] in the file)
  PROVHOST_BACKOFF_SCALE=F    multiply every retry wait by F (e.g. 0.01 in tests)
  PROVHOST_API_KEY            like serve --api-key
  PROVHOST_ISOLATION=MODE     like --isolation: process (default) or none
  PROVHOST_PLUGIN_CACHE=DIR   like --plugin-cache: the scan cache's folder, or off
  XDG_CACHE_HOME              the scan cache is $XDG_CACHE_HOME/provhost (~/.cache/provhost)
  PROVHOST_LOG=LEVEL          plugins' messages from LEVEL up: debug, info (default), warning, error;
                              debug also logs every state change of the engine's chats and transfers
  XDG_CONFIG_HOME, HOME       where the default configuration file is
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY   proxies, when --proxy is not given)";

}  // namespace

int run(int argc, char **argv) {
  CLI::App app("provhost: a host for LLM chat provider plugins", "provhost");
  app.footer(help_footer);
  app.set_version_flag("--version", version_line);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions global;
  config::add_global_options(app, global.command_line);

  std::vector<Command> commands = {
      add_list_command(app, global),  add_inspect_command(app, global), add_chat_command(app, global),
      add_serve_command(app, global), add_config_command(app, global),  add_validate_command(app, global),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    std::string message = e.what();
    // CLI11 reports a mistyped command or global option as a missing subcommand; name the culprit.
    if (!app.remaining().empty() && app.get_subcommands().empty()) {
      const std::string first = app.remaining().front();
      message = (first.rfind('-', 0) == 0 ? "unknown option " : "unknown command ") + first;
    }
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::cerr << "provhost: " << message << " (see provhost --help)\n";
    return exit_usage;
  }
  try {
    global.config = config::load(global.command_line, config::process_environment(), engine_module_upstream_parsers());
  } catch (const config::Error &e) {
    std::cerr << "provhost: " << e.what() << "\n";
    return exit_usage;
  }
  for (const auto &command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return exit_usage;  // unreachable: require_subcommand(1)
}

}  // namespace provhost::host

int main(int argc, char **argv) {
  try {
    return provhost::host::run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "provhost: internal error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "provhost: internal error\n";
  }
  return provhost::host::exit_internal_error;
}
