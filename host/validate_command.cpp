// provhost validate FILE [--har FILE]... [--json] [--check-timeout SEC]: the conformance suite of
// core/include/provhost/core/validate.hpp over one plugin file. Each check runs in a worker process
// of its own, whatever --isolation says: a crash is a finding, and the suite goes on.
#include <chrono>
#include <iostream>
#include <memory>
#include <provhost/core/validate.hpp>
#include <provhost/text.hpp>

#include "commands.hpp"
#include "json_output.hpp"

namespace provhost::host {
namespace {

struct ValidateOptions {
  std::filesystem::path file;
  std::vector<std::filesystem::path> hars;
  bool json = false;
  double check_timeout = 60;
};

void print_text(const std::vector<core::ValidationResult> &results, size_t passed) {
  for (const core::ValidationResult &result : results) {
    if (result.passed) continue;
    std::cout << "FAIL " << one_line(result.check.name) << ": " << result.failures.front();
    if (result.failures.size() > 1) std::cout << " (and " << result.failures.size() - 1 << " more)";
    std::cout << '\n';
  }
  std::cout << passed << " checks passed, " << results.size() - passed << " failed\n";
}

void print_json(const ValidateOptions &options, const std::vector<core::ValidationResult> &results, size_t passed) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  writer.SetIndent(' ', 2);
  writer.StartObject();
  writer.Key("file");
  write_string(writer, options.file.string());
  writer.Key("checks");
  writer.StartArray();
  for (const core::ValidationResult &result : results) {
    writer.StartObject();
    writer.Key("name");
    write_string(writer, result.check.name);
    writer.Key("description");
    write_string(writer, result.check.description);
    writer.Key("passed");
    writer.Bool(result.passed);
    writer.Key("failures");
    writer.StartArray();
    for (const std::string &failure : result.failures) write_string(writer, failure);
    writer.EndArray();
    writer.EndObject();
  }
  writer.EndArray();
  writer.Key("passed");
  writer.Uint64(passed);
  writer.Key("failed");
  writer.Uint64(results.size() - passed);
  writer.EndObject();
  std::cout << buffer.GetString() << '\n';
}

int run_validate(const GlobalOptions &global, const ValidateOptions &options) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(options.file, error)) {
    std::cerr << "provhost: validate: " << one_line(options.file.string()) << " is not a file\n";
    return exit_usage;
  }
  for (const std::filesystem::path &har : options.hars) {
    if (!std::filesystem::is_regular_file(har, error)) {
      std::cerr << "provhost: validate: --har " << one_line(har.string()) << " is not a file\n";
      return exit_usage;
    }
  }
  // The isolation limits apply even under --isolation none: checks always run in workers.
  core::IsolationOptions isolation = config::isolation_options(global.config).value_or(core::IsolationOptions{});
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.check_timeout * 1000));
  std::vector<core::ValidationResult> results = core::validate_plugin(options.file, options.hars, isolation, timeout);
  size_t passed = 0;
  for (const core::ValidationResult &result : results) passed += result.passed ? 1 : 0;
  if (options.json)
    print_json(options, results, passed);
  else
    print_text(results, passed);
  return passed == results.size() ? exit_ok : exit_validation_failed;
}

}  // namespace

Command add_validate_command(CLI::App &app, const GlobalOptions &global) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App *validate =
      app.add_subcommand("validate", "Check a plugin FILE against the plugin contract, each check in a worker process");
  validate->add_option("plugin", options->file, "Path to a plugin file")->required()->type_name("FILE");
  validate->add_option("--har", options->hars, "A recording (HAR 1.2) whose answers must replay to its text")
      ->type_name("FILE");
  validate->add_flag("--json", options->json, "Print one JSON object");
  validate
      ->add_option("--check-timeout", options->check_timeout,
                   "Seconds one check may take before it counts as a hang (default 60)")
      ->check(CLI::Range(0.1, 3600.0))
      ->type_name("SEC");
  return {validate, [&global, options] { return run_validate(global, *options); }};
}

}  // namespace provhost::host
