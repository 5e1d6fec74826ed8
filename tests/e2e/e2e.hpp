// e2e.hpp: what the end-to-end tests share: the emulator in-process, the real `provhost` binary
// run against it (each run bounded in time), and readers for what the emulator recorded.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <catch2/catch.hpp>
#include <emulator/emulator.hpp>
#include <provhost/bundled_providers.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/json_fields.hpp"
#include "support/process.hpp"

namespace provhost::e2e {

using provhost::test::Environment;
using provhost::test::ProcessResult;

// A bundled provider: `name` as provhost knows it, `route` as the emulator knows it (the provider's id).
struct Provider {
  std::string name;
  std::string route;
};
inline const std::vector<Provider> providers = [] {
  std::vector<Provider> all;
  for (const auto &bundled : provhost::bundled::providers)
    all.push_back({std::string(bundled.name), std::string(bundled.id)});
  return all;
}();

using Messages = std::vector<std::pair<std::string, std::string>>;  // (role, content)

// The environment every run gets: every provider sent to the emulator, no proxy from the
// machine's environment, no other plugin folders, and short retry waits.
inline Environment base_environment(const std::string &origin) {
  Environment env = {{"http_proxy", ""},
                     {"HTTP_PROXY", ""},
                     {"https_proxy", ""},
                     {"HTTPS_PROXY", ""},
                     {"all_proxy", ""},
                     {"ALL_PROXY", ""},
                     {"no_proxy", ""},
                     {"NO_PROXY", ""},
                     {"PROVHOST_PLUGIN_PATH", ""},
                     {"PROVHOST_BACKOFF_SCALE", "0.001"}};
  for (const Provider &p : providers) {
    std::string variable = std::string("PROVHOST_UPSTREAM_") + p.name;
    for (char &c : variable) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    env.emplace_back(variable, origin);
  }
  return env;
}

// The emulator, started on an ephemeral port, and `provhost` pointed at it.
class Upstream {
 public:
  Upstream() { emulator.start(); }

  // Runs `provhost <args>` with `input` on stdin; `extra` adds to (or, with "", removes from) the
  // base environment.
  ProcessResult provhost(const std::vector<std::string> &args, const std::string &input = "",
                         const Environment &extra = {}) const {
    std::vector<std::string> argv = {provhost::test::provhost_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    Environment env = base_environment(emulator.origin());
    env.insert(env.end(), extra.begin(), extra.end());
    ProcessResult result = provhost::test::run_process(argv, input, std::chrono::seconds(20), env);
    INFO("provhost stderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    return result;
  }

  // `provhost chat -p NAME <args>`.
  ProcessResult chat(const std::string &provider, const std::vector<std::string> &args, const std::string &input = "",
                     const Environment &extra = {}) const {
    std::vector<std::string> all = {"chat", "-p", provider};
    all.insert(all.end(), args.begin(), args.end());
    return provhost(all, input, extra);
  }

  provhost::emulator::Emulator emulator;
};

inline std::string messages_json(const Messages &messages) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartArray();
  for (const auto &[role, content] : messages) {
    writer.StartObject();
    writer.Key("role");
    writer.String(role.data(), static_cast<rapidjson::SizeType>(role.size()));
    writer.Key("content");
    writer.String(content.data(), static_cast<rapidjson::SizeType>(content.size()));
    writer.EndObject();
  }
  writer.EndArray();
  return std::string(buffer.GetString(), buffer.GetSize());
}

// The lines of a process's stderr.
inline std::vector<std::string> lines_of(const std::string &text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

// Field-by-field reading of JSON bodies, shared with the plugins' unit tests.
using test::bool_field;
using test::field_names;
using test::messages_field;
using test::number_field;
using test::parse_json;
using test::string_field;
using test::strings_field;

}  // namespace provhost::e2e
