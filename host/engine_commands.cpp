// chat and serve in the executable: their command lines, and the engine module that runs them
// (engine_module.hpp), loaded only once one of them was chosen and the configuration is loaded.
#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <provhost/core/isolation.hpp>
#include <provhost/core/plugin_abi.hpp>
#include <provhost/text.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "config/command_line.hpp"
#include "engine_module.hpp"

namespace provhost::host {
namespace {

// Why the module cannot be used, as the end of a line naming it.
struct ModuleUnusable {
  std::string line;
};

// lib/provhost/libprovhost-engine.so from the folder above the executable's (bin/), in the build
// tree as in an install; the build says where (host/CMakeLists.txt). Throws ModuleUnusable.
std::filesystem::path engine_module_file() {
  std::error_code error;
  std::filesystem::path executable = boost::dll::program_location(error);
  if (error)
    throw ModuleUnusable{"the engine module cannot be found: where provhost runs from is unknown (" + error.message() +
                         ")"};
  return (executable.parent_path() / ".." / PROVHOST_ENGINE_MODULE_RELATIVE_PATH).lexically_normal();
}

// Whether a library was preloaded (LD_PRELOAD, /etc/ld.so.preload) to interpose on the C library:
// a malloc replacement, torsocks or proxychains wrapping connect(). Valgrind's own preloads do not
// count: its tools replace functions by redirecting them wherever they are bound, not by symbol.
bool interposers_preloaded() {
  std::error_code ignored;
  if (std::filesystem::file_size("/etc/ld.so.preload", ignored) > 0 && !ignored) return true;
  const char *variable = std::getenv("LD_PRELOAD");
  std::string_view preloads = variable ? variable : "";
  while (!preloads.empty()) {
    const size_t end = preloads.find_first_of(": ");
    const std::string_view entry = preloads.substr(0, end);
    preloads.remove_prefix(end == std::string_view::npos ? preloads.size() : end + 1);
    if (!entry.empty() && !std::filesystem::path(entry).filename().string().starts_with("vgpreload_")) return true;
  }
  return false;
}

// Lazily bound, as the executable is: binding every function of the module and of libcurl's dozens
// of libraries up front cost chat and serve a fifth more start-up. And, where it is safe, with
// RTLD_DEEPBIND: the module and the libraries it brought look their symbols up among themselves
// first, rather than in the executable's libstdc++ and the rest of the global scope first, which made
// relocating libcurl's libraries (most of chat's start-up) a fifth dearer. It is safe because
//  - the interface is one exported variable, looked up by the executable, and the module binds
//    nothing of the executable's (hidden visibility, its static libraries' symbols kept local);
//  - the executable has no copy relocations (host/CMakeLists.txt): a copied std::cerr or
//    __libc_single_threaded would be one object for the executable and another for the module;
// and it is left out where something must see the module's calls: a sanitizer's runtime
// interposes malloc and the rest from the executable, and a preloaded library from the global scope.
boost::dll::load_mode::type engine_module_load_mode() {
  auto mode = boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local;
#ifndef PROVHOST_SANITIZED_BUILD
  if (!interposers_preloaded()) mode |= boost::dll::load_mode::rtld_deepbind;
#endif
  return mode;
}

// The module's table, loaded at the first call. Never unloaded: threads a command started may still
// be running its code while the process exits. Throws ModuleUnusable.
const EngineModule &engine_module() {
  static boost::dll::shared_library *library = nullptr;
  static const EngineModule *module = nullptr;
  if (module) return *module;
  const std::filesystem::path file = engine_module_file();
  const std::string named = "the engine module " + one_line(file.string());
  std::error_code ignored;
  if (!std::filesystem::exists(file, ignored))
    throw ModuleUnusable{named + " is missing (is provhost installed whole?)"};
  auto candidate = std::make_unique<boost::dll::shared_library>();
  // A library the module needs that is missing fails here, at load, although bound lazily.
  try {
    candidate->load(boost::dll::fs::path(file.string()), engine_module_load_mode());
  } catch (const std::exception &e) {
    throw ModuleUnusable{named + " cannot be loaded: " + one_line(core::loader_message(e.what(), file))};
  }
  if (!candidate->has(engine_module_symbol)) {
    throw ModuleUnusable{named + " has no " + engine_module_symbol + " (is it provhost's engine module?)"};
  }
  library = candidate.release();
  module = &library->get<const EngineModule>(engine_module_symbol);
  return *module;
}

const config::UpstreamParsers &module_parsers(std::string_view what) {
  try {
    return engine_module().upstream_parsers;
  } catch (const ModuleUnusable &e) {
    throw config::Error("cannot check " + one_line(what) + ": " + e.line);
  }
}

core::Result<std::string> parse_origin(std::string_view url) {
  return module_parsers("the upstream " + std::string(url)).origin(url);
}

core::Result<std::pair<std::string, std::string>> parse_upstream_option(std::string_view spec) {
  return module_parsers("--upstream " + std::string(spec)).option(spec);
}

}  // namespace

int run_in_engine_module(const EngineCommand &command) {
  const EngineModule *module = nullptr;
  try {
    module = &engine_module();
  } catch (const ModuleUnusable &e) {
    std::cerr << "provhost: cannot run " << (std::holds_alternative<ChatOptions>(command.command) ? "chat" : "serve")
              << ": " << e.line << "\n";
    return exit_internal_error;
  }
  return module->run(command);
}

config::UpstreamParsers engine_module_upstream_parsers() { return {&parse_origin, &parse_upstream_option}; }

Command add_chat_command(CLI::App &app, GlobalOptions &global) {
  auto options = std::make_shared<ChatOptions>();
  auto words = std::make_shared<std::vector<std::string>>();
  CLI::App *command = add_command_with_deferred_options(
      app, "chat", "Ask a provider and stream its answer to stdout", [&global, options, words](CLI::App &chat) {
        chat.add_option("-p,--provider", options->provider, "Provider to ask (default: the working ones, in order)")
            ->type_name("NAME");
        chat.add_option("-m,--model", options->model, "Model or alias, or Provider/model (default: the provider's)")
            ->type_name("MODEL");
        chat.add_option("--system", options->system, "System message to put first")->type_name("TEXT");
        chat.add_option("--messages", options->messages_file, "JSON file with an OpenAI-style messages array")
            ->type_name("FILE");
        chat.add_flag("--no-stream", options->no_stream, "Ask for the whole answer at once");
        chat.add_option("-o,--option", options->request_options,
                        "A request parameter for the provider, the value in JSON (a bare word is a string): "
                        "temperature, top_p, max_tokens, stop; repeatable")
            ->type_name("KEY=VALUE")
            ->allow_extra_args(false)  // one KEY=VALUE per -o: the words after it are the prompt
            ->take_all();
        chat.add_flag("-v,--verbose", options->verbose, "Say on stderr which provider and model answered");
        chat.add_flag("--usage", options->usage,
                      "Print the token counts (the upstream's, else estimated) and why the answer ended on stderr");
        chat.add_option("--record", options->record,
                        "Write the chat's upstream exchanges to FILE as HAR 1.2, secrets masked (for replay tests)")
            ->type_name("FILE");
        config::add_engine_options(chat, global.command_line);
        chat.add_option("prompt", *words,
                        "The user message (words are joined); - reads it from stdin. Piped stdin "
                        "and a PROMPT are joined: stdin first")
            ->type_name("PROMPT|-")
            ->expected(0, -1);
      });
  return {command, [&global, options, words] {
            if (words->size() > 1 && std::find(words->begin(), words->end(), "-") != words->end()) {
              std::cerr << "provhost: \"-\" (read the prompt from stdin) must be the only prompt argument\n";
              return static_cast<int>(exit_usage);
            }
            for (const auto &word : *words) {
              if (!options->prompt.empty()) options->prompt += ' ';
              options->prompt += word;
            }
            return run_in_engine_module({global, *options});
          }};
}

Command add_serve_command(CLI::App &app, GlobalOptions &global) {
  auto record_dir = std::make_shared<std::filesystem::path>();
  CLI::App *command = add_command_with_deferred_options(
      app, "serve", "Serve every loaded provider through an OpenAI-compatible HTTP API",
      [&global, record_dir](CLI::App &serve) {
        config::add_serve_options(serve, global.command_line);
        config::add_engine_options(serve, global.command_line);
        serve
            .add_option("--record", *record_dir,
                        "Write each chat's upstream exchanges to DIR/chat-<ms>-<id>.har (HAR 1.2, secrets masked)")
            ->check(CLI::ExistingDirectory)
            ->type_name("DIR");
      });
  return {command, [&global, record_dir] { return run_in_engine_module({global, ServeOptions{*record_dir}}); }};
}

}  // namespace provhost::host
