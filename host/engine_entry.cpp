// The engine module's side of engine_module.hpp: the one variable the executable looks up.
#include <boost/config.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <provhost/core/isolation.hpp>
#include <provhost/text.hpp>

#include "engine_module.hpp"

namespace provhost::host {
namespace {

// Exceptions end here, as in main(): none crosses back into the executable.
int run_command(const EngineCommand &command) {
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

// The process ends with the command, once what is buffered is written: nothing the module brought
// needs tearing down, and the exit handlers of libcurl's libraries (OpenSSL's cleanup, their
// finalisers) were 0.7 M instructions, a thirtieth of a short chat. Nor do threads a command left
// behind run on while static objects are destroyed under them. A sanitized build exits as usual,
// for its leak check at exit.
int run(const EngineCommand &command) {
  const int code = run_command(command);
#ifndef PROVHOST_SANITIZED_BUILD
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(code);
#endif
  return code;
}

}  // namespace
}  // namespace provhost::host

extern "C" BOOST_SYMBOL_EXPORT constinit const provhost::host::EngineModule provhost_engine_module{
    &provhost::host::run, provhost::host::config::core_upstream_parsers()};
