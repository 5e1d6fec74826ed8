#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

extern char **environ;

namespace provhost::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int error) { return std::strerror(error); }

// Writing to a child that has exited must fail with EPIPE, not kill the test.
void ignore_sigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

std::vector<std::string> make_environment(const Environment &extra_env) {
  std::map<std::string, std::string> vars;
  for (char **entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
  }
  // A developer's own ~/.config/provhost/config.toml must not change what a test sees: every child
  // looks for its configuration file in a folder that has none, unless the test says otherwise.
  vars["XDG_CONFIG_HOME"] = PROVHOST_TEST_BINARY_DIR "/tests/no-user-config";
  for (const auto &[name, value] : extra_env) {
    if (value.empty())
      vars.erase(name);
    else
      vars[name] = value;
  }
  std::vector<std::string> out;
  for (const auto &[name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

std::vector<char *> c_strings(std::vector<std::string> &strings) {
  std::vector<char *> out;
  for (auto &s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

struct Pipe {
  int read = -1, write = -1;
  bool open() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    read = fds[0];
    write = fds[1];
    return true;
  }
};

void close_fd(int &fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

struct Child {
  pid_t pid = -1;
  int in_fd = -1, out_fd = -1, err_fd = -1;
  std::string error;  // why it could not start
};

// fork + exec rather than posix_spawn: only fork lets the child ask to die with its parent.
Child spawn(const std::vector<std::string> &argv, const Environment &extra_env, bool with_stdin) {
  Child child;
  if (argv.empty()) {
    child.error = "no program given";
    return child;
  }
  ignore_sigpipe();
  std::vector<std::string> args = argv;
  std::vector<std::string> env = make_environment(extra_env);
  std::vector<char *> c_args = c_strings(args);
  std::vector<char *> c_env = c_strings(env);

  Pipe in, out, err, exec_status;
  if (!in.open() || !out.open() || !err.open() || !exec_status.open()) {
    child.error = "pipe: " + errno_text(errno);
    for (int fd : {in.read, in.write, out.read, out.write, err.read, err.write, exec_status.read, exec_status.write})
      if (fd >= 0) ::close(fd);
    return child;
  }
  if (!with_stdin) {
    close_fd(in.read);
    in.read = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::dup2(in.read, 0);
    ::dup2(out.write, 1);
    ::dup2(err.write, 2);
    ::execvpe(c_args[0], c_args.data(), c_env.data());
    int error = errno;
    ssize_t ignored = ::write(exec_status.write, &error, sizeof error);
    (void)ignored;
    ::_exit(127);
  }
  int fork_error = errno;
  close_fd(in.read);
  close_fd(out.write);
  close_fd(err.write);
  close_fd(exec_status.write);
  if (pid < 0) {
    child.error = "fork: " + errno_text(fork_error);
    for (int *fd : {&in.write, &out.read, &err.read, &exec_status.read}) close_fd(*fd);
    return child;
  }
  ::setpgid(pid, pid);  // also here, so that killing the group cannot race the child's own setpgid

  int exec_error = 0;
  ssize_t n;
  do {
    n = ::read(exec_status.read, &exec_error, sizeof exec_error);
  } while (n < 0 && errno == EINTR);
  close_fd(exec_status.read);
  if (n == sizeof exec_error) {
    ::waitpid(pid, nullptr, 0);
    child.error = argv[0] + ": " + errno_text(exec_error);
    for (int *fd : {&in.write, &out.read, &err.read}) close_fd(*fd);
    return child;
  }
  child.pid = pid;
  child.in_fd = in.write;
  child.out_fd = out.read;
  child.err_fd = err.read;
  if (!with_stdin) close_fd(child.in_fd);
  return child;
}

void decode_status(int status, int &exit_code, int &term_signal) {
  if (WIFEXITED(status)) {
    exit_code = WEXITSTATUS(status);
    term_signal = 0;
  } else if (WIFSIGNALED(status)) {
    term_signal = WTERMSIG(status);
    exit_code = 128 + term_signal;
  }
}

// Reaps `pid` if it exits within `limit`.
std::optional<int> wait_status(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return status;
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Reads what is available on `fd` into `sink`; false at end of file or on error.
bool drain(int fd, std::string &sink) {
  char buffer[65536];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  if (n > 0) {
    sink.append(buffer, static_cast<size_t>(n));
    return true;
  }
  return n < 0 && (errno == EINTR || errno == EAGAIN);
}

}  // namespace

ProcessResult run_process(const std::vector<std::string> &argv, const std::string &input,
                          std::chrono::milliseconds limit, const Environment &extra_env) {
  ProcessResult result;
  Child child = spawn(argv, extra_env, true);
  if (child.pid < 0) {
    result.exit_code = 127;
    result.err = child.error + "\n";
    return result;
  }
  if (child.in_fd >= 0) ::fcntl(child.in_fd, F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (input.empty()) close_fd(child.in_fd);

  auto deadline = Clock::now() + limit;
  bool killed = false;
  while (child.out_fd >= 0 || child.err_fd >= 0) {
    if (!killed && Clock::now() >= deadline) {
      ::kill(-child.pid, SIGKILL);
      killed = true;
      result.timed_out = true;
      close_fd(child.in_fd);
      deadline = Clock::now() + std::chrono::seconds(2);  // bounded: a stray holder of the pipe cannot hang us
    } else if (killed && Clock::now() >= deadline) {
      break;
    }
    pollfd fds[3];
    nfds_t count = 0;
    for (int fd : {child.out_fd, child.err_fd}) {
      if (fd >= 0) fds[count++] = pollfd{fd, POLLIN, 0};
    }
    if (child.in_fd >= 0) fds[count++] = pollfd{child.in_fd, POLLOUT, 0};
    int ready = ::poll(fds, count, remaining_ms(deadline));
    if (ready < 0 && errno != EINTR) break;
    for (nfds_t i = 0; i < count && ready > 0; ++i) {
      if (!fds[i].revents) continue;
      int fd = fds[i].fd;
      if (fd == child.in_fd) {
        ssize_t n = ::write(fd, input.data() + written, input.size() - written);
        if (n > 0) written += static_cast<size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) close_fd(child.in_fd);
      } else if (fd == child.out_fd) {
        if (!drain(fd, result.out)) close_fd(child.out_fd);
      } else if (fd == child.err_fd) {
        if (!drain(fd, result.err)) close_fd(child.err_fd);
      }
    }
  }
  for (int *fd : {&child.in_fd, &child.out_fd, &child.err_fd}) close_fd(*fd);

  std::optional<int> status = wait_status(child.pid, std::chrono::milliseconds(remaining_ms(deadline)));
  if (!status) {
    ::kill(-child.pid, SIGKILL);
    if (!killed) result.timed_out = true;
    int raw = 0;
    ::waitpid(child.pid, &raw, 0);
    status = raw;
  }
  decode_status(*status, result.exit_code, result.term_signal);
  return result;
}

std::string provhost_binary() { return PROVHOST_TEST_PROVHOST_BINARY; }
std::string plugin_dir() { return PROVHOST_TEST_PLUGIN_DIR; }
std::string build_dir() { return PROVHOST_TEST_BINARY_DIR; }

BackgroundProcess::BackgroundProcess(const std::vector<std::string> &argv, const Environment &extra_env) {
  Child child = spawn(argv, extra_env, false);
  start_error_ = child.error;
  if (child.pid < 0) {
    closed_ = true;
    return;
  }
  pid_ = child.pid;
  out_fd_ = child.out_fd;
  err_fd_ = child.err_fd;
  reader_ = std::thread([this] { read_output(); });
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) terminate();
  // The group is dead, so the pipes reach end of file and the reader ends.
  if (reader_.joinable()) reader_.join();
  close_fd(out_fd_);
  close_fd(err_fd_);
}

void BackgroundProcess::read_output() {
  std::string out_chunk, err_chunk;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? out_fd_ : -1, POLLIN, 0}, {err_open ? err_fd_ : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out_chunk.clear();
    err_chunk.clear();
    if (fds[0].revents) out_open = drain(out_fd_, out_chunk);
    if (fds[1].revents) err_open = drain(err_fd_, err_chunk);
    std::lock_guard lock(mutex_);
    err_ += err_chunk;
    partial_line_ += out_chunk;
    size_t start = 0, newline;
    while ((newline = partial_line_.find('\n', start)) != std::string::npos) {
      lines_.push_back(partial_line_.substr(start, newline - start));
      start = newline + 1;
    }
    partial_line_.erase(0, start);
    if (!out_open && !partial_line_.empty()) {
      lines_.push_back(partial_line_);
      partial_line_.clear();
    }
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

std::optional<std::string> BackgroundProcess::wait_for_line(const std::function<bool(const std::string &)> &matches,
                                                            std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  size_t checked = 0;
  std::optional<std::string> found;
  auto look = [&] {
    for (; checked < lines_.size(); ++checked) {
      if (matches(lines_[checked])) {
        found = lines_[checked];
        return true;
      }
    }
    return closed_;
  };
  changed_.wait_for(lock, limit, look);
  return found;
}

std::vector<std::string> BackgroundProcess::out_lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::string BackgroundProcess::err() const {
  std::lock_guard lock(mutex_);
  return err_;
}

void BackgroundProcess::send_signal(int signal) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, signal);
}

bool BackgroundProcess::reap(std::chrono::milliseconds limit) {
  if (exit_code_) return true;
  if (pid_ <= 0) return false;
  std::optional<int> status = wait_status(pid_, limit);
  if (!status) return false;
  int code = -1, signal = 0;
  decode_status(*status, code, signal);
  exit_code_ = code;
  return true;
}

std::optional<int> BackgroundProcess::wait(std::chrono::milliseconds limit) {
  if (!reap(limit)) return std::nullopt;
  return exit_code_;
}

int BackgroundProcess::terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (!exit_code_) {
    ::kill(-pid_, SIGTERM);
    if (!reap(grace)) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      int code = -1, signal = 0;
      decode_status(status, code, signal);
      exit_code_ = code;
    }
  }
  ::kill(-pid_, SIGKILL);  // whatever it left behind in its group
  return *exit_code_;
}

}  // namespace provhost::test
