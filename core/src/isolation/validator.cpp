// `provhost validate`, the host's side: each check in a worker process of its own, judged by what
// it wrote and how it ended, so that a crash, an exit or a hang is a finding of the check that
// caused it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <provhost/core/validate.hpp>
#include <provhost/text.hpp>
#include <sstream>

#include "child.hpp"

namespace provhost::core {
namespace {

using Clock = std::chrono::steady_clock;

// Everything the worker writes until it closes its end, or until `deadline`; false on the deadline.
bool read_until_closed(int fd, Clock::time_point deadline, std::string &out) {
  char buffer[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (isolation::wait_readable(fd, -1, left) == isolation::Readiness::timed_out) return false;
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return true;
    // A worker that writes without end is cut off: its findings are the first lines anyway.
    if (out.size() < (1u << 20)) out.append(buffer, static_cast<size_t>(n));
  }
}

ValidationResult run_one(const std::filesystem::path &file, const ValidationCheck &check,
                         const IsolationOptions &options, std::chrono::milliseconds timeout) {
  ValidationResult result;
  result.check = check;
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    result.failures.push_back(std::string("cannot run the check: pipe: ") + std::strerror(errno));
    return result;
  }
  const std::filesystem::path worker = options.worker.empty() ? default_worker_path() : options.worker;
  isolation::Child child = isolation::spawn_worker(
      worker, {"validate", file.string(), "--check", check.name, "--memory", std::to_string(options.memory_limit)},
      ends[1]);
  ::close(ends[1]);
  if (child.pid < 0) {
    ::close(ends[0]);
    result.failures.push_back(child.error);
    return result;
  }
  std::string output;
  const bool ended = read_until_closed(ends[0], Clock::now() + timeout, output);
  ::close(ends[0]);
  int status = 0;
  if (ended) {
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    isolation::kill_and_reap(child.pid);
  }
  bool done = false;
  std::istringstream lines(output);
  for (std::string line; std::getline(lines, line);) {
    if (line == "done") done = true;
    if (line.rfind("fail ", 0) == 0) result.failures.push_back(one_line(line.substr(5)));
  }
  if (!ended) {
    result.failures.push_back("did not finish in " + isolation::seconds_text(timeout) + " (a hang?)");
  } else if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    result.failures.push_back("the plugin " + isolation::describe_end(status, "during the check"));
  }
  result.passed = result.failures.empty();
  return result;
}

}  // namespace

std::vector<ValidationResult> validate_plugin(const std::filesystem::path &file,
                                              const std::vector<std::filesystem::path> &hars,
                                              const IsolationOptions &options, std::chrono::milliseconds timeout) {
  std::vector<ValidationResult> results;
  for (const ValidationCheck &check : validation_checks(hars))
    results.push_back(run_one(file, check, options, timeout));
  return results;
}

}  // namespace provhost::core
