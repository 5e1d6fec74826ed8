// process.hpp: run provhost (or any program) from a test, and find the build tree.
//
//   auto r = run_process({provhost_binary(), "list", "--json"});      // bounded, captures out/err
//   BackgroundProcess emulator({build_dir() + "/bin/provhost-emulator"});
//   auto line = emulator.wait_for_line([](auto &l) { return l.starts_with("listening on "); });
//
// Children run in their own process group, which is killed as a whole, so a script's children do
// not outlive the test. A child also dies with the thread that started it (PR_SET_PDEATHSIG), so a
// test that crashes leaves no server behind: start background processes from the test's own thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace provhost::test {

using Environment = std::vector<std::pair<std::string, std::string>>;

struct ProcessResult {
  int exit_code = -1;  // the exit status; 128 + signal when a signal ended it; 127 when it could not start
  std::string out, err;
  bool timed_out = false;  // killed because it outlived its limit
  int term_signal = 0;     // the signal that ended it, 0 when it exited by itself
};

// Runs argv[0] with args (no shell; argv[0] is searched in PATH when it has no slash), feeding
// `input` on stdin, capturing stdout and stderr; kills it after `limit`. The environment is the
// current one plus `extra_env`, where an empty value removes the variable.
ProcessResult run_process(const std::vector<std::string> &argv, const std::string &input = "",
                          std::chrono::milliseconds limit = std::chrono::seconds(30),
                          const Environment &extra_env = {});

// Paths of the build tree, fixed at compile time.
std::string provhost_binary();  // <build>/bin/provhost
std::string plugin_dir();       // <build>/lib/provhost/plugins, the default plugin folder
std::string build_dir();        // the top-level build folder

// A fresh temporary folder, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  const std::filesystem::path &path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::filesystem::path write(const std::string &name, const std::string &content) const;

 private:
  std::filesystem::path path_;
};

// A long-running child (an emulator, `provhost serve`). Its stdout and stderr are read on a
// background thread, so it never blocks on a full pipe. The destructor sends SIGTERM, then SIGKILL
// if it has not exited within two seconds.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string> &argv, const Environment &extra_env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess &) = delete;
  BackgroundProcess &operator=(const BackgroundProcess &) = delete;

  // Waits for the first stdout line (without its newline) that matches, including lines already
  // read. nullopt when the process closed stdout or `limit` passed first.
  std::optional<std::string> wait_for_line(const std::function<bool(const std::string &)> &matches,
                                           std::chrono::milliseconds limit = std::chrono::seconds(10));

  std::vector<std::string> out_lines() const;  // stdout so far, line by line
  std::string err() const;                     // stderr so far

  pid_t pid() const { return pid_; }
  void send_signal(int signal) const;

  // Waits for the process to exit by itself; its exit code (as ProcessResult::exit_code), or
  // nullopt when it is still running after `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit);
  // SIGTERM, then SIGKILL after `grace`; the exit code.
  int terminate(std::chrono::milliseconds grace = std::chrono::seconds(2));

  // Why it could not start ("" when it did).
  const std::string &start_error() const { return start_error_; }

 private:
  void read_output();
  bool reap(std::chrono::milliseconds limit);

  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string start_error_;
  std::optional<int> exit_code_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> lines_;
  std::string partial_line_;
  std::string err_;
  bool closed_ = false;
  std::thread reader_;
};

}  // namespace provhost::test
