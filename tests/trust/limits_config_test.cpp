// The limits as options: [limits] in the file, the --max-* flags over it, what core receives, and
// `provhost config`'s output.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <config.hpp>
#include <limits.hpp>

#include "support/process.hpp"

using namespace provhost::host::config;

namespace {

Config load_with(const std::string &file_text, CommandLine command_line = {}) {
  provhost::test::TempDir dir;
  command_line.config_file = dir.write("config.toml", file_text);
  return load(command_line, {});
}

std::string error_of(const std::string &file_text) {
  try {
    load_with(file_text);
  } catch (const Error &e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("limits come from [limits], the command line wins, and core receives them") {
  CommandLine command_line;
  command_line.limits["max_answer_bytes"] = 1000;
  command_line.limits["max_models"] = 7;
  Config config = load_with("[limits]\nmax_answer_bytes = 5\nmax_requests = 3\nmax_model_name = 9\n", command_line);

  provhost::core::EngineLimits engine = engine_options(config).limits;
  CHECK(engine.max_answer_bytes == 1000);
  CHECK(engine.max_requests == 3);
  CHECK(engine.max_request_headers == provhost::core::EngineLimits{}.max_request_headers);
  provhost::core::MetadataLimits metadata = host_settings(config)->metadata;
  CHECK(metadata.max_models == 7);
  CHECK(metadata.max_model_name == 9);

  const std::string text = to_text(config);
  CHECK_THAT(text, Catch::Contains("[limits]\nmax_answer_bytes = 1000  # from --max-answer-bytes\n"
                                   "max_requests = 3  # from config.toml:3\n"
                                   "max_request_headers = 100  # default\n"));
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(to_json(config).c_str()).HasParseError());
  CHECK(json["limits"]["max_models"]["value"].GetUint64() == 7);
  CHECK(std::string(json["limits"]["max_models"]["source"].GetString()) == "--max-models");
  CHECK(json["limits"]["max_request_body"]["value"].GetUint64() == 8 * 1024 * 1024);
}

TEST_CASE("a limit that is unknown, not a whole number or not positive is an error with its place") {
  CHECK_THAT(error_of("[limits]\nmax_answers = 5\n"),
             Catch::EndsWith("config.toml:2:1: unknown key \"limits.max_answers\""));
  CHECK_THAT(error_of("[limits]\nmax_requests = 0\n"),
             Catch::EndsWith("config.toml:2:16: limits.max_requests must be a whole number > 0"));
  CHECK_THAT(error_of("[limits]\nmax_requests = \"many\"\n"),
             Catch::EndsWith("config.toml:2:16: limits.max_requests must be a whole number > 0"));
}
