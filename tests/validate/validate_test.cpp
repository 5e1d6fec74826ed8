// provhost validate as a user runs it: every bundled plugin and the third-party example pass; copies
// of the example with one of its two old bugs put back each fail the check that is about it; a
// plugin that crashes or hangs is a finding of the checks it crashed or hung in, and the suite goes on.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <provhost/bundled_providers.hpp>
#include <string>

#include "support/process.hpp"

using namespace provhost::test;
using namespace std::chrono_literals;

namespace {

const std::string plugins = PROVHOST_VALIDATE_PLUGINS;
const std::string har_dir = PROVHOST_VALIDATE_HAR_DIR;

// A generous bound against a hang of the command itself; a check has its own --check-timeout.
ProcessResult validate(std::vector<std::string> args, const Environment &env = {}) {
  args.insert(args.begin(), {provhost_binary(), "validate"});
  return run_process(args, "", 600s, env);
}

std::string plugin(const std::string &name) { return plugins + "/provhost-validated_" + name + ".so"; }

size_t count_lines_starting(const std::string &text, const std::string &prefix) {
  size_t count = 0;
  for (size_t at = 0; at < text.size();) {
    if (text.compare(at, prefix.size(), prefix) == 0) ++count;
    size_t end = text.find('\n', at);
    at = end == std::string::npos ? text.size() : end + 1;
  }
  return count;
}

}  // namespace

TEST_CASE("every bundled plugin passes validate") {
  for (const auto &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    ProcessResult r = validate({std::string(bundled.file)});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == "16 checks passed, 0 failed\n");
  }
}

TEST_CASE("every bundled plugin passes validate with its recordings from the emulator") {
  for (const auto &bundled : provhost::bundled::providers) {
    INFO(bundled.name);
    std::vector<std::string> args = {std::string(bundled.file)};
    size_t recordings = 0;
    for (const auto &entry : std::filesystem::directory_iterator(PROVHOST_REPLAY_HAR_DIR)) {
      if (entry.path().filename().string().rfind(std::string(bundled.id) + "-", 0) != 0) continue;
      args.insert(args.end(), {"--har", entry.path().string()});
      ++recordings;
    }
    REQUIRE(recordings >= 2);
    ProcessResult r = validate(args);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out == std::to_string(16 + recordings) + " checks passed, 0 failed\n");
  }
}

TEST_CASE("the third-party example passes validate, its recorded mid-stream error included") {
  ProcessResult r = validate({plugin("example"), "--har", har_dir + "/example_error_event.har"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "17 checks passed, 0 failed\n");
}

TEST_CASE("validate catches the example's bug of finishing after an error object") {
  ProcessResult r = validate({plugin("example_error_ignored"), "--har", har_dir + "/example_error_event.har"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 5);
  CHECK(count_lines_starting(r.out, "FAIL ") == 1);
  CHECK(r.out.find("FAIL har:" + har_dir + "/example_error_event.har: replay: the recording failed") !=
        std::string::npos);
  CHECK(r.out.find("16 checks passed, 1 failed\n") != std::string::npos);
}

TEST_CASE("validate catches the example's bug of passing a lone surrogate on as bytes that are not UTF-8") {
  ProcessResult r = validate({plugin("example_bad_utf8")});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 5);
  // The hostile bodies find it, alone and in the sessions run at once.
  CHECK(count_lines_starting(r.out, "FAIL ") == 2);
  CHECK(r.out.find("FAIL answers-hostile-text: ") != std::string::npos);
  CHECK(r.out.find("FAIL concurrent-sessions: ") != std::string::npos);
  CHECK(r.out.find("text is not whole UTF-8 characters") != std::string::npos);
}

TEST_CASE("a plugin that crashes is a finding of each check it crashed in, and the others still run") {
  ProcessResult r = validate({plugin("misbehaving")}, {{"PROVHOST_TEST_MISBEHAVE", "crash"}});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 5);
  CHECK(r.out.find("FAIL answers-garbage: the plugin crashed during the check: SIGSEGV") != std::string::npos);
  CHECK(r.out.find("FAIL exports") == std::string::npos);
  CHECK(r.out.find("FAIL sessions-open-close") == std::string::npos);
  CHECK(r.out.find("checks passed, ") != std::string::npos);
}

TEST_CASE("a plugin that hangs is a finding once --check-timeout passes") {
  ProcessResult r =
      validate({plugin("misbehaving"), "--check-timeout", "0.5", "--json"}, {{"PROVHOST_TEST_MISBEHAVE", "hang"}});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 5);
  rapidjson::Document json;
  REQUIRE_FALSE(json.Parse(r.out.c_str()).HasParseError());
  bool found = false;
  for (const auto &check : json["checks"].GetArray()) {
    if (std::string(check["name"].GetString()) != "answers-garbage") continue;
    found = true;
    CHECK_FALSE(check["passed"].GetBool());
    REQUIRE(check["failures"].Size() >= 1);
    CHECK(std::string(check["failures"][0].GetString()) == "did not finish in 0.5 s (a hang?)");
  }
  CHECK(found);
  CHECK(json["passed"].GetUint() + json["failed"].GetUint() == 16);
}

TEST_CASE("the well-behaved misbehaving plugin passes, so the findings above are the faults'") {
  ProcessResult r = validate({plugin("misbehaving")});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("validate: a missing file or recording is a usage error") {
  ProcessResult r = validate({plugins + "/no-such.so"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "provhost: validate: " + plugins + "/no-such.so is not a file\n");
  r = validate({plugin("example"), "--har", "/nonexistent.har"});
  CHECK(r.exit_code == 2);
  CHECK(r.err == "provhost: validate: --har /nonexistent.har is not a file\n");
}
