// ProcessBackend: each provider's sessions run in a worker process (provhost-plugin-worker
// session FILE), fed one frame of SessionWork per batch over a socketpair and answering one frame
// of SessionResults. A lane thread of the host writes the batch and waits for the answer, so the
// engine's thread never waits on plugin code; it is the lane that notices a worker that crashed,
// went over its memory limit, broke the sandbox, sent garbage or took longer than the call
// timeout. Such a worker is killed, every session it held fails with ErrorKind::plugin and the
// cause, and the next session starts a new worker, after a backoff when it keeps dying.
// Whatever a worker sends is hostile: frames are size-checked, parsed strictly, and results for
// sessions it was not given are dropped.
#include "process_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <optional>
#include <provhost/core/error.hpp>
#include <provhost/core/host_services.hpp>
#include <provhost/core/worker_stats.hpp>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../engine/lane_backend.hpp"
#include "../engine/transfer.hpp"
#include "child.hpp"
#include "sandbox.hpp"
#include "wire.hpp"

namespace provhost::core::engine {
namespace {

using Clock = std::chrono::steady_clock;
using isolation::FrameType;

// A kernel that refuses seccomp is reported once per host process, not once per worker.
std::atomic<bool> sandbox_refusal_reported{false};

// Backoff before starting a worker again after its predecessor died: none for the first death,
// then 0.1 s doubling up to 10 s; forgotten once a worker has lived a minute.
constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto longest_backoff = std::chrono::seconds(10);
constexpr auto forgiven_after = std::chrono::seconds(60);

// The body region each worker shares with its lane (wire.hpp): room for a few of a transfer's
// largest batches, so that a chat's body bytes never pass through the socket; under many streams
// at once, what does not fit goes in the frame. Its pages are taken as they are first written.
constexpr size_t body_region_size = 4 * transfer_buffer_ceiling;

class WorkerLane final : public Lane {
 public:
  // `file` "" when no such provider is loaded: its sessions fail.
  WorkerLane(std::string provider, std::filesystem::path file, std::string instance, const IsolationOptions &options,
             std::shared_ptr<const HostSettings> settings, Outbox &outbox)
      : Lane(outbox),
        provider_(std::move(provider)),
        file_(std::move(file)),
        instance_(std::move(instance)),
        options_(options),
        worker_path_(options.worker.empty() ? default_worker_path() : options.worker),
        settings_(settings ? std::move(settings) : std::make_shared<const HostSettings>()),
        wake_fd_(::eventfd(0, EFD_CLOEXEC)) {
    start();
  }
  ~WorkerLane() override {
    stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (region_.data) ::munmap(region_.data, region_.size);
    if (region_fd_ >= 0) ::close(region_fd_);
  }

 private:
  // ---- the lane ----------------------------------------------------------------------------------

  void process(Batch<SessionWork> &working, Batch<SessionResult> &produced) override {
    if (stopping()) return;
    if (!running() && !start_worker()) return fail_opens(working, produced);
    for (size_t i = 0; i < working.size(); ++i) {
      const SessionWork &item = working[i];
      if (item.kind == SessionWork::Kind::open) sessions_.insert(item.session);
      if (item.kind == SessionWork::Kind::close) sessions_.erase(item.session);
    }
    out_.clear();
    isolation::WireWriter w(out_);
    region_.used = 0;  // the worker answered the last frame: its bytes are spent
    isolation::write_work(w, working, region_.data ? &region_ : nullptr);
    received_.clear();
    if (!send(out_) || !receive(produced)) return worker_died(produced);
  }

  void finish() override {
    if (running()) stop_worker();
  }

  void interrupt() override {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }

  // ---- the worker --------------------------------------------------------------------------------

  bool running() const { return pid_ > 0; }

  bool start_worker() {
    if (file_.empty()) {
      failure_ = "the provider is not loaded";
      return false;
    }
    if (Clock::now() < restart_not_before_) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(restart_not_before_ - Clock::now());
      failure_ = "the plugin's worker is restarting after: " + last_death_ + " (next start in " +
                 isolation::seconds_text(left) + ")";
      return false;
    }
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
      failure_ = std::string("cannot start the plugin's worker: socketpair: ") + std::strerror(errno);
      return false;
    }
    std::vector<std::string> args = {"session", file_.string(), "--memory", std::to_string(options_.memory_limit)};
    if (!options_.sandbox) args.push_back("--no-sandbox");
    if (!instance_.empty()) args.insert(args.end(), {"--instance", instance_});
    make_body_region();
    if (region_.data) args.insert(args.end(), {"--body-region", std::to_string(region_.size)});
    isolation::Child child = isolation::spawn_worker(worker_path_, args, ends[1], region_fd_);
    ::close(ends[1]);
    if (child.pid < 0) {
      ::close(ends[0]);
      failure_ = child.error;
      return false;
    }
    pid_ = child.pid;
    socket_ = ends[0];
    started_ = Clock::now();
    std::string frame;
    isolation::WireWriter w(frame);
    isolation::write_settings(w, *settings_);
    isolation::ScanAnswer answer;
    bool sandboxed = false;
    std::string sandbox_error;
    if (!send(frame) || !read_frame(FrameType::hello)) return note_death(), false;
    isolation::WireReader reader(std::string_view(received_).substr(1));
    if (!isolation::read_hello(reader, answer, sandboxed, sandbox_error)) {
      death_ = "the plugin's worker sent an unreadable answer";
      return note_death(), false;
    }
    if (!answer.loaded) {
      death_ = "the plugin could not be loaded in its worker: " + answer.error;
      return note_death(), false;
    }
    if (options_.sandbox && !sandboxed && !sandbox_refusal_reported.exchange(true)) {
      std::cerr << "provhost: warning: plugins run without a sandbox: the kernel refused seccomp (" << sandbox_error
                << ")\n";
    }
    if (std::exchange(after_crash_, false)) count_worker_restart(provider_);
    return true;
  }

  // Once per lane: the workers it starts, one after the other, share it in turn. Without one (no
  // memfd), body bytes go in the frames, as they always may.
  void make_body_region() {
    if (region_fd_ >= 0) return;
    int fd = ::memfd_create("provhost-body-region", MFD_CLOEXEC);
    if (fd < 0) return;
    void *mapped = MAP_FAILED;
    if (::ftruncate(fd, static_cast<off_t>(body_region_size)) == 0)
      mapped = ::mmap(nullptr, body_region_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) {
      ::close(fd);
      return;
    }
    region_fd_ = fd;
    region_.data = static_cast<char *>(mapped);
    region_.size = body_region_size;
  }

  // Ends the worker and remembers why it ended for the sessions that fail and the next start.
  void note_death() {
    if (death_.empty()) death_ = "the plugin's worker ended";
    int status = isolation::kill_and_reap(pid_);
    if (death_ == ended_by_itself) {
      death_ = "the plugin " + isolation::describe_end(status);
      crash_ = WIFSIGNALED(status) ? WorkerCrash::signal : WorkerCrash::exit;
    }
    if (crash_) count_worker_crash(provider_, *crash_);
    after_crash_ = crash_.has_value();
    crash_.reset();
    ::close(socket_);
    socket_ = -1;
    pid_ = -1;
    ahead_begin_ = ahead_end_ = 0;  // what the next worker sends starts afresh
    if (Clock::now() - started_ >= forgiven_after) deaths_ = 0;
    ++deaths_;
    auto backoff = deaths_ <= 1
                       ? Clock::duration::zero()
                       : std::min<Clock::duration>(longest_backoff, first_backoff * (1 << std::min(deaths_ - 2, 10)));
    restart_not_before_ = Clock::now() + backoff;
    last_death_ = death_;
    failure_ = death_;
    death_.clear();
  }

  void stop_worker() {
    death_ = "the host stopped";
    note_death();
  }

  void worker_died(Batch<SessionResult> &produced) {
    if (stopping()) return stop_worker();
    note_death();
    for (SessionId session : sessions_) {
      SessionResult &out = produced.add();
      out.kind = SessionResult::Kind::failed;
      out.session = session;
      out.error = make_error(ErrorKind::plugin, provider_, failure_);
    }
    sessions_.clear();
  }

  // The worker could not be started: the sessions this batch opens fail at once (the engine may
  // fall back to another provider); the others' sessions failed already.
  void fail_opens(Batch<SessionWork> &working, Batch<SessionResult> &produced) {
    for (size_t i = 0; i < working.size(); ++i) {
      if (working[i].kind != SessionWork::Kind::open) continue;
      SessionResult &out = produced.add();
      out.kind = SessionResult::Kind::failed;
      out.session = working[i].session;
      out.error = make_error(ErrorKind::plugin, provider_, failure_);
    }
  }

  // ---- the channel -------------------------------------------------------------------------------

  // Waits for the socket (`events`) until the call's deadline; false, with death_ set, when the
  // worker must go.
  bool wait_for(short events, Clock::time_point deadline) {
    for (;;) {
      pollfd fds[2] = {{socket_, events, 0}, {wake_fd_, POLLIN, 0}};
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      int ready = ::poll(fds, 2, static_cast<int>(std::max<long long>(0, left.count())));
      if (ready < 0 && errno == EINTR) continue;
      if (fds[1].revents) {
        death_ = "the host stopped";
        return false;
      }
      if (ready > 0) return true;
      if (Clock::now() >= deadline) {
        death_ = "the plugin did not answer within " + isolation::seconds_text(options_.call_timeout) + " (killed)";
        crash_ = WorkerCrash::hang;
        return false;
      }
    }
  }

  bool send(const std::string &frame) {
    Clock::time_point deadline = Clock::now() + options_.call_timeout;
    size_t sent = 0;
    while (sent < frame.size()) {
      ssize_t n = ::send(socket_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_for(POLLOUT, deadline)) return false;
        continue;
      }
      death_ = ended_by_itself;
      return false;
    }
    return true;
  }

  // The worker answered something the host cannot read: it is ended as crashed (/metrics: protocol). Returns false.
  bool unreadable_answer() {
    death_ = "the plugin's worker sent an unreadable answer (killed)";
    crash_ = WorkerCrash::protocol;
    return false;
  }

  // Reads one frame into received_ (its type first); a fatal frame sets death_ and fails.
  bool read_frame(FrameType expected) {
    Clock::time_point deadline = Clock::now() + options_.call_timeout;
    uint32_t length = 0;
    if (!take_bytes(reinterpret_cast<char *>(&length), sizeof length, deadline)) return false;
    if (length == 0 || length > isolation::max_frame_size) return unreadable_answer();
    received_.resize(length);
    if (!take_bytes(received_.data(), length, deadline)) return false;
    auto type = static_cast<FrameType>(received_[0]);
    if (type == FrameType::fatal) {
      isolation::WireReader reader(std::string_view(received_).substr(1));
      uint8_t cause = reader.u8();
      uint32_t value = reader.u32();
      const bool sandbox = cause == static_cast<uint8_t>(isolation::FatalCause::sandbox);
      crash_ = sandbox ? WorkerCrash::sandbox : WorkerCrash::memory;
      if (sandbox)
        death_ = "blocked by the sandbox: " + isolation::syscall_name(static_cast<int>(value));
      else
        death_ =
            "the plugin went over its memory limit of " + isolation::memory_text(options_.memory_limit) + " (killed)";
      return false;
    }
    if (type != expected) return unreadable_answer();
    return true;
  }

  // Copies the next `size` bytes the worker sent into `buffer`: first what an earlier receive read
  // ahead, then from the socket. A small need is read ahead into read_ahead_, so that one receive
  // usually brings a frame's length and its whole payload; a large one goes straight to `buffer`.
  bool take_bytes(char *buffer, size_t size, Clock::time_point deadline) {
    const size_t kept = std::min(size, ahead_end_ - ahead_begin_);
    std::memcpy(buffer, read_ahead_.data() + ahead_begin_, kept);
    ahead_begin_ += kept;
    buffer += kept;
    size -= kept;
    if (size == 0) return true;
    ahead_begin_ = ahead_end_ = 0;
    if (size >= read_ahead_.size()) return read_bytes(buffer, size, deadline);
    while (ahead_end_ < size) {
      size_t n = receive_some(read_ahead_.data() + ahead_end_, read_ahead_.size() - ahead_end_, deadline);
      if (n == 0) return false;
      ahead_end_ += n;
    }
    std::memcpy(buffer, read_ahead_.data(), size);
    ahead_begin_ = size;
    return true;
  }

  bool read_bytes(char *buffer, size_t size, Clock::time_point deadline) {
    while (size > 0) {
      size_t n = receive_some(buffer, size, deadline);
      if (n == 0) return false;
      buffer += n;
      size -= n;
    }
    return true;
  }

  // One receive of at most `capacity` bytes; 0, with death_ set, when the worker must go.
  size_t receive_some(char *buffer, size_t capacity, Clock::time_point deadline) {
    // The answer is often there already: poll only when a read finds nothing.
    for (;;) {
      ssize_t n = ::recv(socket_, buffer, capacity, MSG_DONTWAIT);
      if (n > 0) return static_cast<size_t>(n);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_for(POLLIN, deadline)) return 0;
        continue;
      }
      death_ = ended_by_itself;
      return 0;
    }
  }

  bool receive(Batch<SessionResult> &produced) {
    if (!read_frame(FrameType::results)) return false;
    isolation::WireReader reader(std::string_view(received_).substr(1));
    if (!isolation::read_results(reader, results_)) {
      results_.clear();
      return unreadable_answer();
    }
    for (size_t i = 0; i < results_.size(); ++i) {
      SessionResult &result = results_[i];
      // Only sessions this worker holds; closes were answered when they were asked for.
      if (result.kind == SessionResult::Kind::closed || !sessions_.count(result.session)) continue;
      if (result.kind == SessionResult::Kind::no_more_requests) sessions_.erase(result.session);
      // The worker's word for whose error it is does not count.
      if (result.kind == SessionResult::Kind::failed) result.error.provider = provider_;
      std::swap(produced.add(), result);
    }
    results_.clear();
    return true;
  }

  static constexpr const char *ended_by_itself = "ended by itself";

  std::string provider_;
  std::filesystem::path file_;
  std::string instance_;  // ABI 1.1: the instance of the plugin the worker loads; "" for its own provider
  const IsolationOptions &options_;
  std::filesystem::path worker_path_;
  std::shared_ptr<const HostSettings> settings_;
  int wake_fd_ = -1;
  pid_t pid_ = -1;
  int socket_ = -1;
  Clock::time_point started_;
  Clock::time_point restart_not_before_;
  int deaths_ = 0;
  std::string death_;                       // why the worker is being ended, as it is found out
  std::optional<WorkerCrash> crash_;        // and how it crashed, when it did (/metrics)
  bool after_crash_ = false;                // the next worker started is a restart
  std::string last_death_;                  // why the last one ended
  std::string failure_;                     // what the sessions that cannot run are told
  std::unordered_set<SessionId> sessions_;  // open in the worker
  std::string out_, received_;
  // Bytes received beyond the frame being read: [ahead_begin_, ahead_end_). Results frames are
  // mostly a few KiB; this holds several.
  std::vector<char> read_ahead_ = std::vector<char>(64 * 1024);
  size_t ahead_begin_ = 0, ahead_end_ = 0;
  Batch<SessionResult> results_;
  isolation::BodyRegion region_;
  int region_fd_ = -1;
};

}  // namespace

std::unique_ptr<SessionBackend> make_process_backend(const Registry &registry, const IsolationOptions &options,
                                                     std::function<void()> wake) {
  return std::make_unique<LaneBackend>(
      registry, std::move(wake),
      [&options, settings = registry.settings()](const ProviderPtr &provider, const std::string &name,
                                                 Outbox &outbox) -> std::unique_ptr<Lane> {
        return std::make_unique<WorkerLane>(
            provider ? provider->meta.name : name,
            provider ? (provider->load_path.empty() ? provider->file : provider->load_path) : std::filesystem::path(),
            provider ? provider->instance : std::string(), options, settings, outbox);
      },
      true);
}

}  // namespace provhost::core::engine
