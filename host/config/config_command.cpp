// provhost config: the effective configuration, each value with where it came from. It takes chat's
// and serve's options too, to show what a command line would change.
#include <iostream>
#include <memory>

#include "../commands.hpp"
#include "command_line.hpp"

namespace provhost::host {

Command add_config_command(CLI::App &app, GlobalOptions &global) {
  auto json = std::make_shared<bool>(false);
  CLI::App *command = add_command_with_deferred_options(
      app, "config", "Print the effective configuration, where each value came from; secrets masked",
      [&global, json](CLI::App &options) {
        options.add_flag("--json", *json, "Print one JSON object");
        config::add_engine_options(options, global.command_line);
        config::add_serve_options(options, global.command_line);
      });
  return {command, [&global, json] {
            std::cout << (*json ? config::to_json(global.config) : config::to_text(global.config));
            return static_cast<int>(exit_ok);
          }};
}

}  // namespace provhost::host
