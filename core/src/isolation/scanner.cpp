// The plugin scanner: each file is loaded for its metadata in a worker process of its own, a few
// at a time, each with a time limit, the way GStreamer's plugin scanner does it. What a worker
// answered (or how it ended) is kept in the scan cache, keyed on the file's path, size and
// modification time, so that a warm `list` starts no process and opens no plugin at all.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <provhost/core/host_services.hpp>
#include <provhost/core/isolation.hpp>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/text.hpp>

#include "child.hpp"
#include "scan_cache.hpp"
#include "wire.hpp"

namespace provhost::core {
namespace {

using Clock = std::chrono::steady_clock;
using isolation::ScanAnswer;

// One file being scanned by a child.
struct Scan {
  size_t index = 0;  // into the files
  pid_t pid = -1;
  int channel = -1;  // the child's answers; -1 once it closed
  int pidfd = -1;    // readable once the child ended
  Clock::time_point deadline;
  std::string received;
  bool ended = false;
  int status = 0;
};

void close_fd(int &fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// What the worker's answer means for the file, once the child ended with `status`.
ScanAnswer judge(const Scan &scan, const IsolationOptions &options) {
  ScanAnswer answer;
  std::string_view bytes = scan.received;
  uint32_t length = 0;
  if (bytes.size() > sizeof length) std::memcpy(&length, bytes.data(), sizeof length);
  if (bytes.size() > sizeof length && bytes.size() == sizeof length + length) {
    auto type = static_cast<isolation::FrameType>(bytes[sizeof length]);
    isolation::WireReader reader(bytes.substr(sizeof length + 1));
    if (type == isolation::FrameType::fatal &&
        reader.u8() == static_cast<uint8_t>(isolation::FatalCause::out_of_memory)) {
      answer.error = "ran out of memory while loading (limit " + isolation::memory_text(options.memory_limit) + ")";
      return answer;
    }
    if (type == isolation::FrameType::scan && WIFEXITED(scan.status) && WEXITSTATUS(scan.status) == 0 &&
        isolation::read_scan(reader, answer)) {
      return answer;
    }
  }
  answer = ScanAnswer{};
  if (WIFEXITED(scan.status) && WEXITSTATUS(scan.status) == 0 && !bytes.empty())
    answer.error = "sent an unreadable answer while loading";
  else
    answer.error = isolation::describe_end(scan.status, "while loading");
  return answer;
}

class Scanner {
 public:
  Scanner(const std::vector<std::filesystem::path> &files, const IsolationOptions &options)
      : files_(files), options_(options), worker_(options.worker.empty() ? default_worker_path() : options.worker) {}

  // Scans the files at `indexes`, storing each answer in answers[index].
  void run(const std::vector<size_t> &indexes, std::vector<ScanAnswer> &answers, std::vector<bool> &cacheable) {
    size_t next = 0;
    std::vector<Scan> running;
    unsigned jobs = std::max(1u, options_.scan_jobs);
    while (next < indexes.size() || !running.empty()) {
      while (next < indexes.size() && running.size() < jobs) {
        size_t index = indexes[next++];
        Scan scan;
        scan.index = index;
        if (std::string error = start(scan); !error.empty()) {
          answers[index].error = error;
          cacheable[index] = false;  // the host's problem, not the file's
          continue;
        }
        running.push_back(std::move(scan));
      }
      if (running.empty()) continue;
      wait(running);
      for (auto it = running.begin(); it != running.end();) {
        if (!it->ended) {
          ++it;
          continue;
        }
        answers[it->index] = it->pid < 0 ? timed_out() : judge(*it, options_);
        it = running.erase(it);
      }
    }
  }

 private:
  ScanAnswer timed_out() const {
    ScanAnswer answer;
    answer.error = "did not finish loading in " + isolation::seconds_text(options_.scan_timeout);
    return answer;
  }

  std::string start(Scan &scan) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) return std::string("cannot scan: pipe: ") + std::strerror(errno);
    std::vector<std::string> args = {"scan", files_[scan.index].string(), "--memory",
                                     std::to_string(options_.memory_limit)};
    isolation::Child child = isolation::spawn_worker(worker_, args, ends[1]);
    ::close(ends[1]);
    if (child.pid < 0) {
      ::close(ends[0]);
      return child.error;
    }
    scan.pid = child.pid;
    scan.channel = ends[0];
    scan.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child.pid, 0));
    scan.deadline = Clock::now() + options_.scan_timeout;
    return {};
  }

  // Waits until one of the children said something, ended or ran out of time.
  void wait(std::vector<Scan> &running) {
    std::vector<pollfd> fds;
    Clock::time_point nearest = Clock::time_point::max();
    for (const Scan &scan : running) {
      fds.push_back({scan.channel, POLLIN, 0});
      // Without a pidfd (an old kernel), the child's end shows as its channel closing.
      fds.push_back({scan.channel < 0 ? scan.pidfd : -1, POLLIN, 0});
      nearest = std::min(nearest, scan.deadline);
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(nearest - Clock::now());
    int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, left.count())));
    if (ready < 0 && errno != EINTR) ready = 0;
    for (size_t i = 0; i < running.size(); ++i) {
      Scan &scan = running[i];
      if (fds[2 * i].revents) receive(scan);
      bool child_gone = scan.channel < 0 && (scan.pidfd < 0 || fds[2 * i + 1].revents);
      if (child_gone) {
        finish(scan, ::waitpid(scan.pid, &scan.status, 0) == scan.pid ? scan.status : 0);
      } else if (Clock::now() >= scan.deadline) {
        isolation::kill_and_reap(scan.pid);
        finish(scan, 0);
        scan.pid = -1;  // marks the time-out
      }
    }
  }

  void receive(Scan &scan) {
    char buffer[65536];
    ssize_t n = ::read(scan.channel, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return;
    if (n <= 0 || scan.received.size() + static_cast<size_t>(n) > isolation::max_frame_size) {
      close_fd(scan.channel);  // the end, or more than any answer may be: what came is judged
      return;
    }
    scan.received.append(buffer, static_cast<size_t>(n));
  }

  void finish(Scan &scan, int status) {
    scan.status = status;
    scan.ended = true;
    close_fd(scan.channel);
    close_fd(scan.pidfd);
  }

  const std::vector<std::filesystem::path> &files_;
  const IsolationOptions &options_;
  std::filesystem::path worker_;
};

// A provider table that runs no session: it carries metadata read back from a worker through the
// loader's own checks (validate_provider), so that the rules are the ones a plugin in this process
// would meet.
namespace metadata_only {
ph_status PH_ABI session_open(const ph_provider *, const ph_chat_request *, const ph_session_events *, ph_session **) {
  return PH_FAILED;
}
ph_status PH_ABI next_request(ph_session *, ph_http_request *) { return PH_FAILED; }
ph_response_action PH_ABI on_response_start(ph_session *, int32_t, const ph_header *, size_t) {
  return PH_RESPONSE_HTTP_ERROR;
}
ph_status PH_ABI on_body(ph_session *, ph_str) { return PH_FAILED; }
ph_status PH_ABI on_response_end(ph_session *) { return PH_FAILED; }
void PH_ABI session_close(ph_session *) {}
}  // namespace metadata_only

// The worker checked the plugin's metadata, but the plugin runs in that worker and may write to its
// channel itself: what comes back (or from the cache, a file anyone could edit) is checked again.
std::optional<std::string> recheck(ScanAnswer &answer) {
  if (answer.abi_offered != PH_ABI_VERSION) return "the worker offered another ABI than this host's";
  if (auto error = check_abi_answer(PH_ABI_VERSION, answer.abi_negotiated)) return error;
  const ProviderMeta &meta = answer.meta;
  std::vector<ph_str> models, capabilities;
  std::vector<ph_alias> aliases;
  for (const auto &model : meta.models) models.push_back(str(model));
  for (const auto &capability : meta.capabilities) capabilities.push_back(str(capability));
  for (const auto &[alias, model] : meta.aliases) aliases.push_back(ph_alias{str(alias), str(model)});
  ph_provider_info info{};
  info.struct_size = sizeof info;
  info.name = str(meta.name);
  info.version = str(meta.version);
  info.description = str(meta.description);
  info.url = str(meta.url);
  info.working = meta.working ? 1 : 0;
  info.default_model = str(meta.default_model);
  info.models = models.data();
  info.model_count = models.size();
  info.aliases = aliases.data();
  info.alias_count = aliases.size();
  info.capabilities = capabilities.data();
  info.capability_count = capabilities.size();
  ph_provider provider{};
  provider.struct_size = sizeof provider;
  provider.info = &info;
  provider.session_open = &metadata_only::session_open;
  provider.next_request = &metadata_only::next_request;
  provider.on_response_start = &metadata_only::on_response_start;
  provider.on_body = &metadata_only::on_body;
  provider.on_response_end = &metadata_only::on_response_end;
  provider.session_close = &metadata_only::session_close;
  ProviderMeta checked;
  if (auto error = validate_provider(&provider, checked)) return error;
  return std::nullopt;
}

PluginLoad to_load(const std::filesystem::path &file, ScanAnswer &answer) {
  PluginLoad load;
  if (answer.loaded) {
    if (auto error = recheck(answer)) answer = ScanAnswer{false, {}, 0, 0, *error};
  }
  if (!answer.loaded) {
    // A reason is one line, whoever wrote it.
    std::replace_if(
        answer.error.begin(), answer.error.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    if (answer.error.empty()) answer.error = "rejected without a reason";
    load.error = std::move(answer.error);
    return load;
  }
  load.provider = std::make_unique<LoadedProvider>();
  load.provider->meta = std::move(answer.meta);
  load.provider->file = file;
  load.provider->abi_offered = answer.abi_offered;
  load.provider->abi_negotiated = answer.abi_negotiated;
  return load;
}

// Reads `size` bytes from `fd` before `deadline`; false when the time is up or the other end closed or failed.
bool read_before(int fd, char *buffer, size_t size, Clock::time_point deadline) {
  while (size > 0) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || isolation::wait_readable(fd, -1, left) != isolation::Readiness::readable) return false;
    ssize_t n = ::recv(fd, buffer, size, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return false;
    buffer += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// The hello frame of a session worker (its type first), read before `deadline`.
bool read_hello_frame(int fd, Clock::time_point deadline, std::string &frame) {
  uint32_t length = 0;
  if (!read_before(fd, reinterpret_cast<char *>(&length), sizeof length, deadline)) return false;
  if (length == 0 || length > isolation::max_frame_size) return false;
  frame.resize(length);
  return read_before(fd, frame.data(), length, deadline);
}

}  // namespace

PluginLoad scan_instance(const std::filesystem::path &file, const std::string &instance,
                         const std::shared_ptr<const HostSettings> &settings, const IsolationOptions &options) {
  PluginLoad failed;
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    failed.error = std::string("cannot scan: socketpair: ") + std::strerror(errno);
    return failed;
  }
  std::vector<std::string> args = {"session",    file.string(), "--memory", std::to_string(options.memory_limit),
                                   "--instance", instance};
  if (!options.sandbox) args.push_back("--no-sandbox");
  isolation::Child child =
      isolation::spawn_worker(options.worker.empty() ? default_worker_path() : options.worker, args, ends[1]);
  ::close(ends[1]);
  if (child.pid < 0) {
    ::close(ends[0]);
    failed.error = child.error;
    return failed;
  }
  std::string frame;
  isolation::WireWriter w(frame);
  isolation::write_settings(w, settings ? *settings : HostSettings{});
  std::string received;
  const bool answered = isolation::write_all(ends[0], frame.data(), frame.size()) &&
                        read_hello_frame(ends[0], Clock::now() + options.scan_timeout, received);
  ::close(ends[0]);
  // The worker waits for sessions it will never get: its answer is all that was wanted.
  const int status = isolation::kill_and_reap(child.pid);
  ScanAnswer answer;
  bool sandboxed = false;
  std::string sandbox_error;
  if (answered && static_cast<isolation::FrameType>(received[0]) == isolation::FrameType::hello) {
    isolation::WireReader reader(std::string_view(received).substr(1));
    if (!isolation::read_hello(reader, answer, sandboxed, sandbox_error)) answer = ScanAnswer{};
  }
  if (!answer.loaded && answer.error.empty()) {
    answer.error = answered ? "sent an unreadable answer while loading"
                   : WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL
                       ? isolation::describe_end(status, "while loading")
                       : "did not finish loading in " + isolation::seconds_text(options.scan_timeout);
  }
  PluginLoad load = to_load(file, answer);
  if (load.provider && load.provider->meta.name != instance) {
    load.error = "made provider " + in_quotes(load.provider->meta.name) + " for instance " + in_quotes(instance);
    load.provider.reset();
  }
  if (load.provider) load.provider->instance = instance;
  return load;
}

std::vector<PluginLoad> scan_plugins(const std::vector<std::filesystem::path> &files, const IsolationOptions &options) {
  std::filesystem::path worker = options.worker.empty() ? default_worker_path() : options.worker;
  isolation::ScanCache cache(options.cache_dir, worker);
  std::vector<ScanAnswer> answers(files.size());
  std::vector<bool> cacheable(files.size(), true);
  std::vector<isolation::FileStamp> stamps(files.size());
  std::vector<size_t> misses;
  for (size_t i = 0; i < files.size(); ++i) {
    stamps[i] = isolation::stamp_of(files[i]);
    if (!cache.find(files[i], stamps[i], answers[i])) misses.push_back(i);
  }
  if (!misses.empty()) {
    Scanner(files, options).run(misses, answers, cacheable);
    for (size_t i : misses) {
      if (cacheable[i]) cache.store(files[i], stamps[i], answers[i]);
    }
    cache.save();
  }
  std::vector<PluginLoad> loads;
  loads.reserve(files.size());
  for (size_t i = 0; i < files.size(); ++i) loads.push_back(to_load(files[i], answers[i]));
  return loads;
}

}  // namespace provhost::core
