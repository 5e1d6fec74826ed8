// validate.hpp: `provhost validate`, a conformance suite for a plugin file, in the spirit of
// clap-validator and gst-validate. Each check runs in a worker process of its own
// (provhost-plugin-worker validate FILE CHECK ...), so that a plugin that crashes or hangs in one
// check is a finding of that check and the others still run. The checks themselves use the SDK's
// test kit (ProvHost::testing), which knows the contract of provhost.h.
#pragma once

#include <chrono>
#include <filesystem>
#include <provhost/core/isolation.hpp>
#include <string>
#include <vector>

namespace provhost::core {

struct ValidationCheck {
  std::string name;         // "answers-garbage"; the har checks are "har:FILE"
  std::string description;  // what it checks, one line
};

// The checks, in the order they run; one "har:FILE" check per recording.
std::vector<ValidationCheck> validation_checks(const std::vector<std::filesystem::path> &hars);

struct ValidationResult {
  ValidationCheck check;
  bool passed = false;
  std::vector<std::string> failures;  // one line each, escaped for a terminal
};

// Runs every check on `file`, each in its own worker with `options`' memory limit, killed after
// `timeout` (validate --check-timeout).
std::vector<ValidationResult> validate_plugin(const std::filesystem::path &file,
                                              const std::vector<std::filesystem::path> &hars,
                                              const IsolationOptions &options, std::chrono::milliseconds timeout);

// In the worker: runs one check, writing "fail LINE" lines and then "done" to `channel`.
int run_validation_check(const std::filesystem::path &file, const std::string &check, int channel);

}  // namespace provhost::core
