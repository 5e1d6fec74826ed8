// The configuration in-process: defaults, the file, the environment and the command line, their
// precedence, every error of the file with its position, and what core and `provhost config` get.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <config.hpp>
#include <fstream>
#include <iterator>
#include <provhost/core/plugin_loader.hpp>
#include <validation.hpp>

#include "support/process.hpp"

using namespace provhost::host::config;
using provhost::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Loads with `file_text` as the --config file (config.toml in a fresh folder).
Config load_file(const std::string &file_text, CommandLine command_line = {}, const Environment &environment = {}) {
  TempDir dir;
  command_line.config_file = dir.write("config.toml", file_text);
  return load(command_line, environment);
}

// The one-line error loading `file_text` gives, without the file's folder.
std::string file_error(const std::string &file_text) {
  TempDir dir;
  CommandLine command_line;
  command_line.config_file = dir.write("config.toml", file_text);
  try {
    load(command_line, {});
  } catch (const Error &e) {
    std::string message = e.what();
    const std::string folder = dir.path().string() + "/";
    if (size_t at = message.find(folder); at != std::string::npos) message.erase(at, folder.size());
    return message;
  }
  return "no error";
}

std::string load_error(const CommandLine &command_line, const Environment &environment) {
  try {
    load(command_line, environment);
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("without a file, variables or options every value is its default") {
  Config config = load({}, {});
  CHECK(config.file.empty());
  CHECK_FALSE(config.file_loaded);
  CHECK(config.plugin_dirs.empty());
  CHECK(config.upstreams.empty());
  CHECK(config.proxy.value == "");
  CHECK(config.timeouts.total.value == 0);
  CHECK(config.timeouts.connect.value == 10);
  CHECK(config.timeouts.first_byte.value == 60);
  CHECK(config.timeouts.idle.value == 30);
  CHECK(config.backoff_scale.value == 1.0);
  CHECK(config.log_level.value == "info");
  CHECK(config.serve.listen.value == "127.0.0.1:8080");
  CHECK(config.serve.api_key.value == "");
  CHECK(config.serve.client_timeout.value == 30);
  CHECK(config.serve.shutdown_timeout.value == 30);
  CHECK(config.serve.max_body.value == 4u * 1024 * 1024);
  CHECK_FALSE(config.serve.quiet.value);
  for (const Source *source : {&config.proxy.source, &config.timeouts.idle.source, &config.serve.listen.source}) {
    CHECK(source->kind == Source::Kind::default_value);
    CHECK(source->describe() == "default");
  }
}

TEST_CASE("the default file is under XDG_CONFIG_HOME, else ~/.config, and a missing one is no error") {
  CHECK(default_config_file({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}}) == "/xdg/provhost/config.toml");
  CHECK(default_config_file({{"HOME", "/home/u"}}) == "/home/u/.config/provhost/config.toml");
  CHECK(default_config_file({{"XDG_CONFIG_HOME", ""}, {"HOME", "/home/u"}}) == "/home/u/.config/provhost/config.toml");
  CHECK(default_config_file({{"XDG_CONFIG_HOME", "relative"}, {"HOME", "/h"}}) == "/h/.config/provhost/config.toml");
  CHECK(default_config_file({}).empty());

  TempDir xdg;
  Config missing = load({}, {{"XDG_CONFIG_HOME", xdg.path().string()}});
  CHECK(missing.file == xdg.path() / "provhost/config.toml");
  CHECK_FALSE(missing.file_loaded);

  fs::create_directories(xdg.path() / "provhost");
  xdg.write("provhost/config.toml", "proxy = \"http://127.0.0.1:3128\"\n");
  Config found = load({}, {{"XDG_CONFIG_HOME", xdg.path().string()}});
  CHECK(found.file_loaded);
  CHECK(found.proxy.value == "http://127.0.0.1:3128");
  CHECK(found.proxy.source.describe() == "from config.toml:1");
}

TEST_CASE("a --config file that does not exist is an error") {
  TempDir dir;
  CommandLine command_line;
  command_line.config_file = dir.path() / "nope.toml";
  CHECK(load_error(command_line, {}) ==
        "error: cannot read configuration file " + (dir.path() / "nope.toml").string() + ": No such file or directory");
  command_line.config_file = dir.path();
  CHECK(load_error(command_line, {}) ==
        "error: cannot read configuration file " + dir.path().string() + ": it is a directory");
}

TEST_CASE("every key of the file is read, each value with its line") {
  Config config = load_file(R"(# a comment
plugin_dirs = ["plugins", "/opt/provhost"]
proxy = "socks5h://127.0.0.1:9050"
log_level = "debug"
backoff_scale = 0.5
provider_order = ["FlowGpt", "Koala"]

[timeouts]
total = 90
connect = 5
first_byte = 20.5
idle = 15

[upstreams]
Koala = "http://127.0.0.1:9000/"

[serve]
listen = "[::1]:9090"
api_key = "s3cret"
client_timeout = 12
shutdown_timeout = 0
max_body = 1024
quiet = true
drop_unsupported_params = true

[providers.Koala]
api_key = "k"
region = "eu"

[models]
"gpt-3.5-turbo" = ["FlowGpt", "Koala"]

[[instances]]
name = "Local"
plugin = "OpenAICompatible"
base_url = "http://127.0.0.1:11434/v1"
api_key_env = "LOCAL_KEY"
models = ["llama3", "qwen"]

[[instances]]
name = "Other"
plugin = "OpenAICompatible"
base_url = "https://api.example.com/v1"
)");
  REQUIRE(config.plugin_dirs.size() == 2);
  CHECK(config.plugin_dirs[0].value == config.file.parent_path() / "plugins");  // relative to the file
  CHECK(config.plugin_dirs[1].value == "/opt/provhost");
  CHECK(config.plugin_dirs[1].source.describe() == "from config.toml:2");
  CHECK(config.proxy.value == "socks5h://127.0.0.1:9050");
  CHECK(config.log_level.value == "debug");
  CHECK(config.backoff_scale.value == 0.5);
  CHECK(config.provider_order.value == std::vector<std::string>{"FlowGpt", "Koala"});
  CHECK(config.timeouts.total.value == 90);
  CHECK(config.timeouts.connect.value == 5);
  CHECK(config.timeouts.first_byte.value == 20.5);
  CHECK(config.timeouts.first_byte.source.describe() == "from config.toml:11");
  CHECK(config.timeouts.idle.value == 15);
  REQUIRE(config.upstreams.count("PROVHOST_UPSTREAM_KOALA"));
  CHECK(config.upstreams["PROVHOST_UPSTREAM_KOALA"].name == "Koala");
  CHECK(config.upstreams["PROVHOST_UPSTREAM_KOALA"].origin.value == "http://127.0.0.1:9000");
  CHECK(config.serve.listen.value == "[::1]:9090");
  CHECK(config.serve.api_key.value == "s3cret");
  CHECK(config.serve.client_timeout.value == 12);
  CHECK(config.serve.shutdown_timeout.value == 0);
  CHECK(config.serve.max_body.value == 1024);
  CHECK(config.serve.quiet.value);
  CHECK(config.serve.drop_unsupported_params.value);
  REQUIRE(config.provider_values.count("PROVHOST_KOALA_REGION"));
  CHECK(config.provider_values["PROVHOST_KOALA_REGION"].provider == "Koala");
  CHECK(config.provider_values["PROVHOST_KOALA_REGION"].key == "region");
  CHECK(config.provider_values["PROVHOST_KOALA_REGION"].value.value == "eu");
  REQUIRE(config.model_fallbacks.size() == 1);
  CHECK(config.model_fallbacks[0].first == "gpt-3.5-turbo");
  CHECK(config.model_fallbacks[0].second.value == std::vector<std::string>{"FlowGpt", "Koala"});
  REQUIRE(config.instances.size() == 2);
  CHECK(config.instances[0].name == "Local");
  CHECK(config.instances[0].plugin == "OpenAICompatible");
  CHECK(config.instances[0].base_url == "http://127.0.0.1:11434/v1");
  CHECK(config.instances[0].api_key_env == "LOCAL_KEY");
  CHECK(config.instances[0].models == std::vector<std::string>{"llama3", "qwen"});
  CHECK(config.instances[0].source.describe() == "from config.toml:33");
  CHECK(config.instances[1].models.empty());
}

TEST_CASE("each variable is read, and wins over the file") {
  const std::string file = R"(
backoff_scale = 2
log_level = "error"
[serve]
api_key = "from-file"
[upstreams]
Ylokh = "http://127.0.0.1:1000"
[providers.Koala]
region = "eu"
)";
  const Environment environment = {{"PROVHOST_BACKOFF_SCALE", "0.01"},
                                   {"PROVHOST_LOG", "debug"},
                                   {"PROVHOST_API_KEY", "from-env"},
                                   {"PROVHOST_UPSTREAM_YLOKH", "http://127.0.0.1:2000"},
                                   {"PROVHOST_UPSTREAM_CHATGPTFREE", "not checked until a chat uses it"},
                                   {"PROVHOST_UPSTREAM_lowercase", "http://127.0.0.1:3000"},
                                   {"PROVHOST_KOALA_REGION", "us"},
                                   {"PROVHOST_FLOWGPT_TOKEN", "t"},
                                   {"PROVHOST_PLUGIN_PATH", "/env/a::/env/b"},
                                   {"PROVHOST_EMPTY_VALUE", ""},
                                   {"OTHER_VARIABLE", "ignored"}};
  Config config = load_file(file, {}, environment);
  CHECK(config.backoff_scale.value == 0.01);
  CHECK(config.backoff_scale.source.describe() == "from PROVHOST_BACKOFF_SCALE");
  CHECK(config.log_level.value == "debug");
  CHECK(config.serve.api_key.value == "from-env");
  CHECK(config.serve.api_key.source.describe() == "from PROVHOST_API_KEY");
  CHECK(config.upstreams.at("PROVHOST_UPSTREAM_YLOKH").origin.value == "http://127.0.0.1:2000");
  CHECK(config.upstreams.at("PROVHOST_UPSTREAM_CHATGPTFREE").origin.value == "not checked until a chat uses it");
  CHECK_FALSE(config.upstreams.count("PROVHOST_UPSTREAM_lowercase"));  // never looked up before either
  const ProviderValue &region = config.provider_values.at("PROVHOST_KOALA_REGION");
  CHECK(region.provider == "Koala");  // the file's name for it stays
  CHECK(region.value.value == "us");
  CHECK(region.value.source.describe() == "from PROVHOST_KOALA_REGION");
  const ProviderValue &token = config.provider_values.at("PROVHOST_FLOWGPT_TOKEN");
  CHECK(token.provider.empty());
  CHECK(token.value.value == "t");
  CHECK_FALSE(config.provider_values.count("PROVHOST_EMPTY_VALUE"));
  for (const char *host_variable : {"PROVHOST_BACKOFF_SCALE", "PROVHOST_LOG", "PROVHOST_API_KEY",
                                    "PROVHOST_PLUGIN_PATH", "PROVHOST_UPSTREAM_YLOKH"})
    CHECK_FALSE(config.provider_values.count(host_variable));
  REQUIRE(config.plugin_dirs.size() == 2);
  CHECK(config.plugin_dirs[0].value == "/env/a");
  CHECK(config.plugin_dirs[1].source.describe() == "from PROVHOST_PLUGIN_PATH");
}

TEST_CASE("the command line wins over the environment and the file") {
  const std::string file = R"(
plugin_dirs = ["/file"]
proxy = "http://file:1"
[timeouts]
total = 1
connect = 1
first_byte = 1
idle = 1
[upstreams]
Koala = "http://127.0.0.1:1000"
[serve]
listen = "127.0.0.1:1"
api_key = "file"
client_timeout = 1
shutdown_timeout = 1
max_body = 1
)";
  CommandLine command_line;
  command_line.plugin_dirs = {"/cli"};
  command_line.upstreams = {"koala=http://127.0.0.1:3000"};
  command_line.proxy = "socks5://cli:1";
  command_line.timeout = 2;
  command_line.connect_timeout = 3;
  command_line.first_byte_timeout = 4;
  command_line.idle_timeout = 5;
  command_line.listen = "127.0.0.1:2";
  command_line.api_key = "cli";
  command_line.client_timeout = 6;
  command_line.shutdown_timeout = 7;
  command_line.max_body = 8;
  command_line.quiet = true;
  command_line.drop_unsupported_params = true;
  const Environment environment = {{"PROVHOST_UPSTREAM_KOALA", "http://127.0.0.1:2000"},
                                   {"PROVHOST_API_KEY", "env"},
                                   {"PROVHOST_PLUGIN_PATH", "/env"}};
  Config config = load_file(file, command_line, environment);

  std::vector<fs::path> folders;
  for (const auto &folder : config.plugin_dirs) folders.push_back(folder.value);
  CHECK(folders == std::vector<fs::path>{"/cli", "/env", "/file"});  // joined, command line first
  CHECK(config.upstreams.size() == 1);
  CHECK(config.upstreams.at("PROVHOST_UPSTREAM_KOALA").origin.value == "http://127.0.0.1:3000");
  CHECK(config.upstreams.at("PROVHOST_UPSTREAM_KOALA").origin.source.describe() == "from --upstream");
  CHECK(config.proxy.value == "socks5://cli:1");
  CHECK(config.proxy.source.describe() == "from --proxy");
  CHECK(config.timeouts.total.value == 2);
  CHECK(config.timeouts.total.source.describe() == "from --timeout");
  CHECK(config.timeouts.connect.value == 3);
  CHECK(config.timeouts.first_byte.value == 4);
  CHECK(config.timeouts.idle.value == 5);
  CHECK(config.serve.listen.value == "127.0.0.1:2");
  CHECK(config.serve.api_key.value == "cli");
  CHECK(config.serve.api_key.source.describe() == "from --api-key");
  CHECK(config.serve.client_timeout.value == 6);
  CHECK(config.serve.shutdown_timeout.value == 7);
  CHECK(config.serve.max_body.value == 8);
  CHECK(config.serve.quiet.value);
  CHECK(config.serve.quiet.source.describe() == "from --quiet");
  CHECK(config.serve.drop_unsupported_params.source.describe() == "from --drop-unsupported-params");
}

TEST_CASE("a bad file is one error with its file, line and column") {
  struct Case {
    std::string file, error;
  };
  const std::vector<Case> cases = {
      {"a = [", "config.toml:1:6: Error while parsing array: encountered end-of-file"},
      {"timouts = 1", "config.toml:1:1: unknown key \"timouts\""},
      {"[timeouts]\ntotl = 1", "config.toml:2:1: unknown key \"timeouts.totl\""},
      {"[serve]\nlisten = \"127.0.0.1:1\"\nport = 2", "config.toml:3:1: unknown key \"serve.port\""},
      {"[timeouts]\ntotal = \"soon\"", "config.toml:2:9: timeouts.total must be a number of seconds >= 0"},
      {"[timeouts]\nidle = -1", "config.toml:2:8: timeouts.idle must be a number of seconds >= 0"},
      {"timeouts = 3", "config.toml:1:12: timeouts must be a table"},
      {"backoff_scale = -0.5", "config.toml:1:17: backoff_scale must be a number >= 0"},
      {"proxy = 3", "config.toml:1:9: proxy must be a string"},
      {"proxy = \"ftp://x\"",
       "config.toml:1:9: proxy: unsupported proxy scheme \"ftp\" (use http, https, socks4, socks4a, socks5 or "
       "socks5h)"},
      {"log_level = \"loud\"", "config.toml:1:13: log_level must be debug, info, warning or error, got \"loud\""},
      {"plugin_dirs = \"/x\"", "config.toml:1:15: plugin_dirs must be an array of strings"},
      {"plugin_dirs = [\"/x\", 2]", "config.toml:1:22: plugin_dirs must be an array of non-empty strings"},
      {"provider_order = [\"Ko ala\"]",
       "config.toml:1:19: invalid provider name \"Ko ala\" (allowed: A-Z a-z 0-9 _ -)"},
      {"[upstreams]\nKoala = \"http://h/x\"",
       "config.toml:2:9: upstreams.Koala: invalid upstream 'http://h/x': give only scheme://host[:port], without a "
       "path"},
      {"[upstreams]\n\"a b\" = \"http://h\"",
       "config.toml:2:1: invalid provider name \"a b\" (allowed: A-Z a-z 0-9 _ -)"},
      {"[serve]\nlisten = \"nowhere\"", "config.toml:2:10: serve.listen: expected HOST:PORT, got \"nowhere\""},
      {"[serve]\nlisten = \"h:70000\"",
       "config.toml:2:10: serve.listen: the port in \"h:70000\" must be a number from 0 to 65535"},
      {"[serve]\nclient_timeout = 0", "config.toml:2:18: serve.client_timeout must be a number of seconds > 0"},
      {"[serve]\nmax_body = 1.5", "config.toml:2:12: serve.max_body must be a number of bytes > 0"},
      {"[serve]\nquiet = \"yes\"", "config.toml:2:9: serve.quiet must be true or false"},
      {"[providers.Koala]\nregion = 1", "config.toml:2:10: providers.Koala.region must be a string"},
      {"[providers]\nKoala = \"x\"", "config.toml:2:9: providers.Koala must be a table"},
      {"[models]\n\"gpt-4\" = []", "config.toml:2:11: models.\"gpt-4\" must list at least one provider"},
      {"[models]\n\"gpt-4\" = \"Koala\"", "config.toml:2:11: models.\"gpt-4\" must be an array of strings"},
      {"instances = 1", "config.toml:1:13: instances must be an array of tables ([[instances]])"},
      {"[[instances]]\nname = \"A\"\nplugin = \"P\"", "config.toml:1:1: instances[0] has no base_url"},
      {"[[instances]]\nname = \"A\"\nplugin = \"P\"\nbase_url = \"ftp://x\"",
       "config.toml:4:12: instances[0].base_url: expected an http:// or https:// URL, got \"ftp://x\""},
      {"[[instances]]\nname = \"A\"\nplugin = \"P\"\nbase_url = \"http://x\"\napi_key_env = \"1X\"",
       "config.toml:5:15: instances[0].api_key_env must be the name of an environment variable (A-Z a-z 0-9 _, not "
       "starting with a digit)"},
      {"[[instances]]\nname = \"A\"\nplugin = \"P\"\nbase_url = \"http://x\"\ncolour = \"red\"",
       "config.toml:5:1: unknown key \"instances[0].colour\""},
      {"[[instances]]\nname = \"A\"\nplugin = \"P\"\nbase_url = \"http://x\"\n"
       "[[instances]]\nname = \"a\"\nplugin = \"P\"\nbase_url = \"http://y\"",
       "config.toml:5:1: instances[1]: another instance is already named \"a\""},
  };
  for (const Case &c : cases) {
    INFO(c.file);
    CHECK(file_error(c.file) == "error: " + c.error);
  }
}

TEST_CASE("bad values from the environment and the command line are one line each") {
  CHECK(load_error({}, {{"PROVHOST_BACKOFF_SCALE", "fast"}}) ==
        "PROVHOST_BACKOFF_SCALE must be a number >= 0, got \"fast\"");
  CHECK(load_error({}, {{"PROVHOST_LOG", "loud"}}) ==
        "PROVHOST_LOG must be debug, info, warning or error, got \"loud\"");
  CommandLine command_line;
  command_line.upstreams = {"Ylokh"};
  CHECK(load_error(command_line, {}) == "--upstream: expected NAME=URL, got \"Ylokh\"");
  command_line.upstreams = {"Ylokh=ftp://x"};
  CHECK(load_error(command_line, {}) ==
        "--upstream Ylokh: invalid upstream 'ftp://x': the scheme must be http or https");
  command_line.upstreams = {};
  command_line.proxy = "gopher://x";
  CHECK(load_error(command_line, {}) ==
        "unsupported proxy scheme \"gopher\" (use http, https, socks4, socks4a, socks5 or socks5h)");
}

TEST_CASE("core receives the configuration as values") {
  CommandLine command_line;
  command_line.upstreams = {"Koala=http://127.0.0.1:3000"};
  command_line.first_byte_timeout = 0.25;
  command_line.connect_timeout = 0;  // 0 keeps the default, as it always has
  Config config =
      load_file(R"(
plugin_dirs = ["dirs"]
proxy = "http://127.0.0.1:3128"
log_level = "warning"
[timeouts]
total = 90
[providers.Koala]
region = "eu"
)",
                command_line, {{"PROVHOST_BACKOFF_SCALE", "0.01"}, {"PROVHOST_UPSTREAM_YLOKH", "http://y:1"}});
  provhost::core::EngineOptions engine = engine_options(config);
  CHECK(engine.timeouts.total_ms == 90'000);
  CHECK(engine.timeouts.connect_ms == provhost::core::Timeouts{}.connect_ms);
  CHECK(engine.timeouts.first_byte_ms == 250);
  CHECK(engine.timeouts.idle_ms == 30'000);
  CHECK(engine.proxy == "http://127.0.0.1:3128");
  CHECK(engine.backoff_scale == 0.01);
  CHECK(engine.upstreams ==
        std::map<std::string, std::string>{{"Koala", "http://127.0.0.1:3000"}, {"YLOKH", "http://y:1"}});

  auto settings = host_settings(config);
  CHECK(settings->log_level == PH_LOG_WARNING);
  CHECK(settings->provider_config.at("PROVHOST_KOALA_REGION") == "eu");

  std::vector<fs::path> folders = plugin_folders(config);
  REQUIRE(folders.size() == 2);
  CHECK(folders[0] == config.file.parent_path() / "dirs");
  CHECK(folders[1] == provhost::core::default_plugin_folder());
}

TEST_CASE("provider order and model chains become core's resolution preferences") {
  Config config = load_file("provider_order = [\"Koala\", \"FlowGpt\"]\n[models]\n\"gpt-4\" = [\"FlowGpt\"]\n");
  provhost::core::ResolutionPreferences preferences = resolution_preferences(config);
  CHECK(preferences.provider_order == std::vector<std::string>{"Koala", "FlowGpt"});
  CHECK(preferences.model_providers.size() == 1);
  CHECK(preferences.model_providers.at("gpt-4") == std::vector<std::string>{"FlowGpt"});
}

TEST_CASE("secrets are api keys and values whose key says key, token, secret or password") {
  for (const char *name : {"api_key", "API-KEY", "token", "client_secret", "Password", "PROVHOST_X_TOKEN"})
    CHECK(is_secret(name));
  for (const char *name : {"region", "model", "base_url", "PROVHOST_X_REGION"}) CHECK_FALSE(is_secret(name));
}

TEST_CASE("the printed configuration names every source and masks every secret") {
  CommandLine command_line;
  command_line.timeout = 5;
  command_line.proxy = "http://user:pass@127.0.0.1:3128";
  Config config = load_file(R"(log_level = "debug"
[serve]
api_key = "file-key"
[providers.Koala]
api_key = "koala-key"
region = "eu"
[models]
"gpt-3.5-turbo" = ["FlowGpt", "Koala"]
[[instances]]
name = "Local"
plugin = "OpenAICompatible"
base_url = "http://127.0.0.1:11434/v1"
api_key_env = "LOCAL_KEY"
)",
                            command_line, {{"PROVHOST_API_KEY", "env-key"}, {"PROVHOST_FOO_PASSWORD", "pw"}});
  std::string text = to_text(config);
  for (const char *secret : {"file-key", "env-key", "koala-key", "pw\"", "user:pass"}) {
    INFO(secret);
    CHECK_THAT(text, !Catch::Contains(secret));
  }
  for (const char *line :
       {"\ntotal = 5  # from --timeout\n", "\nconnect = 10  # default\n",
        "\nlog_level = \"debug\"  # from config.toml:1\n", "\nproxy = \"http://****@127.0.0.1:3128\"  # from --proxy\n",
        "\napi_key = \"****\"  # from PROVHOST_API_KEY\n",
        "\n[providers.Koala]\napi_key = \"****\"  # from config.toml:5\n", "\nregion = \"eu\"  # from config.toml:6\n",
        "\nPROVHOST_FOO_PASSWORD = \"****\"  # from PROVHOST_FOO_PASSWORD\n",
        "\n\"gpt-3.5-turbo\" = [\"FlowGpt\", \"Koala\"]  # from config.toml:8\n",
        "\n[[instances]]  # from config.toml:9\nname = \"Local\"\n", "\napi_key_env = \"LOCAL_KEY\"\n"}) {
    INFO(line);
    CHECK_THAT(text, Catch::Contains(line));
  }

  std::string json_text = to_json(config);
  CHECK_THAT(json_text, !Catch::Contains("koala-key"));
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(json_text.c_str()).HasParseError());
  CHECK(json["timeouts"]["total"]["value"].GetDouble() == 5);
  CHECK(std::string(json["timeouts"]["total"]["source"].GetString()) == "--timeout");
  CHECK(std::string(json["timeouts"]["idle"]["source"].GetString()) == "default");
  CHECK(std::string(json["serve"]["api_key"]["value"].GetString()) == "****");
  CHECK(std::string(json["serve"]["api_key"]["source"].GetString()) == "PROVHOST_API_KEY");
  CHECK(std::string(json["providers"]["Koala"]["region"]["value"].GetString()) == "eu");
  CHECK(std::string(json["providers"]["Koala"]["api_key"]["value"].GetString()) == "****");
  CHECK(std::string(json["environment"]["PROVHOST_FOO_PASSWORD"]["value"].GetString()) == "****");
  CHECK(json["models"]["gpt-3.5-turbo"]["value"].Size() == 2);
  CHECK(std::string(json["instances"][0]["api_key_env"].GetString()) == "LOCAL_KEY");
  CHECK(json["file_loaded"].GetBool());
  CHECK(json["serve"]["max_body"]["value"].GetUint64() == 4u * 1024 * 1024);
  CHECK_FALSE(json["serve"]["quiet"]["value"].GetBool());
}

TEST_CASE("the README's example file is valid and sets what it says") {
  std::ifstream in(PROVHOST_README);
  REQUIRE(in);
  const std::string readme(std::istreambuf_iterator<char>(in), {});
  const size_t start = readme.find("```toml\n");
  REQUIRE(start != std::string::npos);
  const size_t end = readme.find("```", start + 8);
  REQUIRE(end != std::string::npos);
  Config config = load_file(readme.substr(start + 8, end - start - 8));
  CHECK(config.proxy.value == "socks5h://127.0.0.1:9050");
  CHECK(config.timeouts.total.value == 120);
  CHECK(config.serve.api_key.value == "change-me");
  CHECK(config.provider_values.at("PROVHOST_FREENETFLY_API_KEY").value.value == "...");
  REQUIRE(config.instances.size() == 1);
  CHECK(config.instances[0].api_key_env == "LOCAL_LLAMA_KEY");
  CHECK(config.isolation.mode.value == "process");
  CHECK(config.isolation.plugin_memory.value == std::uint64_t{1} << 30);
  CHECK(config.isolation.plugin_cache.value == "/var/cache/provhost");
}

TEST_CASE("the isolation settings come from the file, the environment and the command line, in that order") {
  SECTION("defaults: process isolation, the cache under XDG_CACHE_HOME, else ~/.cache") {
    Config config = load({}, {{"XDG_CACHE_HOME", "/xdg-cache"}, {"HOME", "/home/u"}});
    CHECK(config.isolation.mode.value == "process");
    CHECK(config.isolation.plugin_cache.value == "/xdg-cache/provhost");
    CHECK(load({}, {{"HOME", "/home/u"}}).isolation.plugin_cache.value == "/home/u/.cache/provhost");
    std::optional<provhost::core::IsolationOptions> options = isolation_options(config);
    REQUIRE(options);
    CHECK(options->scan_timeout == std::chrono::seconds(5));
    CHECK(options->call_timeout == std::chrono::seconds(10));
    CHECK(options->memory_limit == std::uint64_t{1} << 30);
    CHECK(options->scan_jobs == 4);
    CHECK(options->cache_dir == "/xdg-cache/provhost");
  }
  const std::string file = R"(
isolation = "none"
scan_timeout = 2.5
scan_jobs = 8
plugin_timeout = 3
plugin_memory = "256M"
plugin_cache = "cache"
)";
  SECTION("the file") {
    Config config = load_file(file);
    CHECK(config.isolation.mode.value == "none");
    CHECK_FALSE(isolation_options(config));
    CHECK(config.isolation.scan_timeout.value == 2.5);
    CHECK(config.isolation.scan_jobs.value == 8);
    CHECK(config.isolation.plugin_timeout.value == 3);
    CHECK(config.isolation.plugin_memory.value == std::uint64_t{256} << 20);
    CHECK(config.isolation.plugin_cache.value.filename() == "cache");  // relative to the file
    CHECK(config.isolation.plugin_cache.value.is_absolute());
  }
  SECTION("the environment over the file") {
    Config config = load_file(file, {}, {{"PROVHOST_ISOLATION", "process"}, {"PROVHOST_PLUGIN_CACHE", "off"}});
    CHECK(config.isolation.mode.source.describe() == "from PROVHOST_ISOLATION");
    std::optional<provhost::core::IsolationOptions> options = isolation_options(config);
    REQUIRE(options);
    CHECK(options->cache_dir.empty());
    CHECK(options->scan_timeout == std::chrono::milliseconds(2500));
    CHECK(config.provider_values.empty());  // the host's own variables are no provider values
  }
  SECTION("the command line over both") {
    CommandLine command_line;
    command_line.isolation = "process";
    command_line.scan_timeout = 1;
    command_line.plugin_timeout = 4;
    command_line.plugin_memory = "2G";
    command_line.scan_jobs = 2;
    command_line.plugin_cache = "/cli-cache";
    Config config = load_file(file, command_line, {{"PROVHOST_ISOLATION", "none"}});
    CHECK(config.isolation.mode.value == "process");
    CHECK(config.isolation.mode.source.describe() == "from --isolation");
    std::optional<provhost::core::IsolationOptions> options = isolation_options(config);
    REQUIRE(options);
    CHECK(options->scan_timeout == std::chrono::seconds(1));
    CHECK(options->call_timeout == std::chrono::seconds(4));
    CHECK(options->memory_limit == std::uint64_t{2} << 30);
    CHECK(options->scan_jobs == 2);
    CHECK(options->cache_dir == "/cli-cache");
  }
}

TEST_CASE("bad isolation settings are one line each") {
  CHECK(file_error("isolation = \"threads\"\n") ==
        "error: config.toml:1:13: isolation must be process or none, got \"threads\"");
  CHECK(file_error("plugin_memory = \"12K\"\n") ==
        "error: config.toml:1:17: plugin_memory must be 0 or at least 64M (bytes, or a string with K, M, G)");
  CHECK(file_error("scan_jobs = 1.5\n") == "error: config.toml:1:13: scan_jobs must be a whole number from 1 to 256");
  CHECK(file_error("plugin_timeout = 0\n") ==
        "error: config.toml:1:18: plugin_timeout must be a number of seconds > 0");
  CHECK(load_error({}, {{"PROVHOST_ISOLATION", "threads"}}) ==
        "PROVHOST_ISOLATION: isolation must be process or none, got \"threads\"");
  CHECK(parse_bytes("1G") == std::uint64_t{1} << 30);
  CHECK(parse_bytes("512m") == std::uint64_t{512} << 20);
  CHECK(parse_bytes("1000") == 1000u);
  CHECK_FALSE(parse_bytes("G"));
  CHECK_FALSE(parse_bytes("-1"));
  CHECK_FALSE(parse_bytes("99999999999999999G"));
}

TEST_CASE("serve's hardening limits and cross-site lists come from the file, the command line replacing them") {
  const std::string file = R"([serve]
max_header_bytes = 2048
max_connections = 10
max_stream_backlog = 4096
cors_origins = ["https://app.example", "http://localhost:3000"]
allowed_hosts = ["my.box", "[fd00::1]"]
)";
  Config from_file = load_file(file);
  CHECK(from_file.serve.max_header_bytes.value == 2048);
  CHECK(from_file.serve.max_connections.value == 10);
  CHECK(from_file.serve.max_stream_backlog.value == 4096);
  CHECK(from_file.serve.cors_origins.value == std::vector<std::string>{"https://app.example", "http://localhost:3000"});
  CHECK(from_file.serve.allowed_hosts.value == std::vector<std::string>{"my.box", "[fd00::1]"});

  CommandLine command_line;
  command_line.max_connections = 3;
  command_line.cors_origins = {"*"};
  Config both = load_file(file, command_line);
  CHECK(both.serve.max_connections.value == 3);
  CHECK(both.serve.max_connections.source.describe() == "from --max-connections");
  CHECK(both.serve.cors_origins.value == std::vector<std::string>{"*"});
  CHECK(both.serve.allowed_hosts.value.size() == 2);

  Config defaults = load({}, {});
  CHECK(defaults.serve.max_header_bytes.value == 16384);
  CHECK(defaults.serve.max_connections.value == 1024);
  CHECK(defaults.serve.cors_origins.value.empty());

  CHECK(file_error("[serve]\nmax_connections = 0") ==
        "error: config.toml:2:19: serve.max_connections must be a whole number > 0");
  CHECK_THAT(file_error("[serve]\ncors_origins = [\"https://app.example/path\"]"),
             Catch::StartsWith("error: config.toml:2:17: serve.cors_origins: expected \"*\" or an origin"));
  CHECK_THAT(file_error("[serve]\nallowed_hosts = [\"my.box:80\"]"),
             Catch::StartsWith("error: config.toml:2:18: serve.allowed_hosts: expected a host name without a port"));
  CommandLine bad;
  bad.allowed_hosts = {"a b"};
  CHECK_THROWS_WITH(load(bad, {}), Catch::StartsWith("--allowed-host: expected a host name"));
}
