// The engine module's side of engine_module.hpp: the one variable the executable looks up.
#include <boost/config.hpp>
#include <exception>
#include <iostream>
#include <provhost/text.hpp>

#include "engine_module.hpp"

namespace provhost::host {
namespace {

// Exceptions end here, as in main(): none crosses back into the executable.
int run(const EngineCommand &command) {
  try {
    if (const auto *chat = std::get_if<ChatOptions>(&command.command)) return run_chat(command.global, *chat);
    return run_serve(command.global, std::get<ServeOptions>(command.command));
  } catch (const std::exception &e) {
    std::cerr << "provhost: internal error: " << one_line(e.what()) << "\n";
  } catch (...) {
    std::cerr << "provhost: internal error\n";
  }
  return exit_internal_error;
}

}  // namespace
}  // namespace provhost::host

extern "C" BOOST_SYMBOL_EXPORT constinit const provhost::host::EngineModule provhost_engine_module{
    &provhost::host::run, provhost::host::config::core_upstream_parsers()};
