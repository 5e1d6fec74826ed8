// provhost: parses the command line and hands over to the chosen command (see commands.hpp).
#include <provhost/provhost.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <provhost/core/retry.hpp>

#include "commands.hpp"

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
  2    usage error: bad option, unknown provider or model, unreadable or malformed messages file, no prompt
  3    upstream error: HTTP status, rate limited, auth, Cloudflare, unreadable answer
  4    transfer failure: connection, timeout, stalled, truncated
  130  interrupted

Environment:
  PROVHOST_PLUGIN_PATH        more plugin folders, colon separated (after --plugin-dir)
  PROVHOST_UPSTREAM_<NAME>    like --upstream NAME=URL
  PROVHOST_<NAME>_<KEY>       configuration value KEY for provider NAME
  PROVHOST_BACKOFF_SCALE=F    multiply every retry wait by F (e.g. 0.01 in tests)
  PROVHOST_API_KEY            like serve --api-key
  HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY   proxies, when --proxy is not given
  PROVHOST_LOG=debug          show plugins' debug messages)";

// A duration in seconds: a number, at least 0.
std::string check_seconds(const std::string &text) {
  char *end = nullptr;
  double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(seconds >= 0) || seconds > 1e9)
    return "expected seconds (a number >= 0), got " + text;
  return {};
}

// NAME=URL where URL is an http(s) origin.
std::string check_upstream(const std::string &spec) {
  size_t eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) return "expected NAME=URL, got \"" + spec + "\"";
  std::string_view url = std::string_view(spec).substr(eq + 1);
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return "the URL of --upstream " + spec.substr(0, eq) + " must start with http:// or https://";
  return {};
}

}  // namespace

void load_plugins(core::Registry &registry, const GlobalOptions &global) {
  registry.load(core::plugin_search_path(global.plugin_dirs));
}

std::optional<double> backoff_scale_from_environment(std::string &error) {
  const char *text = std::getenv("PROVHOST_BACKOFF_SCALE");
  return core::parse_backoff_scale(text ? text : "", "PROVHOST_BACKOFF_SCALE", error);
}

std::map<std::string, std::string> upstream_origins(const GlobalOptions &global) {
  std::map<std::string, std::string> origins;
  for (const auto &spec : global.upstreams) {
    size_t eq = spec.find('=');
    if (eq != std::string::npos) origins[spec.substr(0, eq)] = spec.substr(eq + 1);
  }
  return origins;
}

Command add_chat_command(CLI::App &app, const GlobalOptions &global) {
  auto options = std::make_shared<ChatOptions>();
  auto words = std::make_shared<std::vector<std::string>>();
  const CLI::Validator seconds(check_seconds, "");
  CLI::App *chat = app.add_subcommand("chat", "Ask a provider and stream its answer to stdout");
  chat->add_option("-p,--provider", options->provider, "Provider to ask (default: the working ones, in order)")
      ->type_name("NAME");
  chat->add_option("-m,--model", options->model, "Model or alias, or Provider/model (default: the provider's)")
      ->type_name("MODEL");
  chat->add_option("--system", options->system, "System message to put first")->type_name("TEXT");
  chat->add_option("--messages", options->messages_file, "JSON file with an OpenAI-style messages array")
      ->type_name("FILE");
  chat->add_flag("--no-stream", options->no_stream, "Ask for the whole answer at once");
  chat->add_option("--timeout", options->timeout_sec,
                   "Give up after SEC seconds in all (default: the provider's, else 120)")
      ->type_name("SEC")
      ->check(seconds);
  chat->add_option("--connect-timeout", options->connect_timeout_sec, "Seconds to wait for a connection (default 10)")
      ->type_name("SEC")
      ->check(seconds);
  chat->add_option("--first-byte-timeout", options->first_byte_timeout_sec,
                   "Seconds to wait for the first byte (default 60)")
      ->type_name("SEC")
      ->check(seconds);
  chat->add_option("--idle-timeout", options->idle_timeout_sec,
                   "Seconds without data before a stream is stalled (default 30)")
      ->type_name("SEC")
      ->check(seconds);
  chat->add_option("--proxy", options->proxy,
                   "Proxy URL: http://, socks5://, socks5h:// (default: the proxy variables)")
      ->type_name("URL");
  chat->add_option("prompt", *words, "The user message (words are joined); - reads it from stdin")
      ->type_name("PROMPT|-")
      ->expected(0, -1);
  return {chat, [&global, options, words] {
            if (words->size() > 1 && std::find(words->begin(), words->end(), "-") != words->end()) {
              std::cerr << "provhost: \"-\" (read the prompt from stdin) must be the only prompt argument\n";
              return static_cast<int>(exit_usage);
            }
            for (const auto &word : *words) {
              if (!options->prompt.empty()) options->prompt += ' ';
              options->prompt += word;
            }
            return run_chat(global, *options);
          }};
}

int run(int argc, char **argv) {
  CLI::App app("provhost: a host for LLM chat provider plugins", "provhost");
  app.footer(help_footer);
  app.set_version_flag("--version", version_line);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions global;
  app.add_option("--plugin-dir", global.plugin_dirs, "Look for plugins in DIR first (repeatable)")
      ->type_name("DIR")
      ->expected(1)
      ->take_all();
  app.add_option("--upstream", global.upstreams, "Send provider NAME's requests to origin URL (repeatable)")
      ->type_name("NAME=URL")
      ->expected(1)
      ->take_all()
      ->check(CLI::Validator(check_upstream, ""));

  std::vector<Command> commands = {
      add_list_command(app, global),
      add_inspect_command(app, global),
      add_chat_command(app, global),
      add_serve_command(app, global),
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
