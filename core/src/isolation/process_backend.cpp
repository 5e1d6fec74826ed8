// ProcessBackend: each provider version's sessions run in a worker process (provhost-plugin-worker
// session FILE), fed one frame of SessionWork at a time over a socketpair and answering each with
// one frame of SessionResults. There is no thread of the host between the engine and a worker:
// the engine's thread polls each worker's socket beside libcurl's sockets, so a round trip is the
// worker's wake-up and the engine's, nothing more.
//
// A WorkerLane is the engine's side of one worker, a small state machine (Phase): no worker,
// starting (the settings sent, the hello awaited), idle, busy (a work frame on its way or being
// answered). Work the engine submits while the worker is starting or busy waits in `pending_`,
// and goes out as one frame when the answer comes, so the work of several wake-ups is batched and
// the body region (wire.hpp) is used by one frame at a time. Nothing blocks the engine's thread:
//  - frames are sent with non-blocking writes; what the socket does not take waits in `out_` and
//    goes on when the poll reports the socket writable;
//  - frames are received as bytes arrive, whatever pieces they come in; a partial frame waits for
//    the rest; each whole frame is acted on at once;
//  - starting a worker is posix_spawn (returns once the executable runs) and queuing the settings;
//    the hello is read like any frame;
//  - a call (the hello, or a work frame and its answer) has --plugin-timeout to be taken and as long
//    again to be answered, as one entry in the engine's deadline queue (DeadlineKind::backend);
//  - killing a worker sends SIGKILL and reaps it, which the worker cannot delay.
// A worker that crashed, went over its memory limit, broke the sandbox (both announced by a fatal
// frame), sent garbage, a frame nobody asked for, or took longer than the call timeout is killed;
// every session it held fails with ErrorKind::plugin and the cause, and the next work starts a new
// worker, after a backoff when it keeps dying (checked when the work comes: nothing waits on it).
// Whatever a worker sends is hostile: frames are size-checked, parsed strictly, and results for
// sessions it was not given are dropped.
#include "process_backend.hpp"

#include <fcntl.h>
#include <poll.h>
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

#include "../engine/byte_buffer.hpp"
#include "../engine/deadlines.hpp"
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
  // `file` "" when no such provider is loaded: its sessions fail. `id` names the lane's call
  // deadlines in `deadlines`.
  WorkerLane(std::string provider, std::filesystem::path file, std::string instance, const IsolationOptions &options,
             std::shared_ptr<const HostSettings> settings, Outbox &outbox, DeadlineQueue &deadlines, uint64_t id)
      : Lane(outbox),
        provider_(std::move(provider)),
        file_(std::move(file)),
        instance_(std::move(instance)),
        options_(options),
        worker_path_(options.worker.empty() ? default_worker_path() : options.worker),
        settings_(settings ? std::move(settings) : std::make_shared<const HostSettings>()),
        deadlines_(deadlines),
        id_(id) {}
  ~WorkerLane() override {
    stop();
    if (region_.data) ::munmap(region_.data, region_.size);
    if (region_fd_ >= 0) ::close(region_fd_);
  }

  // ---- the lane, on the engine's thread ----------------------------------------------------------

  void queue(SessionWork &item) override {
    has_queued = true;
    std::swap(pending_.add(), item);
  }

  void flush() override {
    has_queued = false;
    pump();
    post_produced();
  }

  void stop() override {
    stopped_ = true;
    pending_.clear();
    if (running()) stop_worker();
    produced_.clear();  // results after a stop are dropped
  }

  void watch(std::vector<PollWatch> &watches) override {
    if (!running()) return;
    watches.push_back(PollWatch{socket_, static_cast<short>(POLLIN | (writing() ? POLLOUT : 0)), 0});
  }

  void ready(PollWatch &watch) override {
    if (!running()) return;
    if (((watch.revents & POLLOUT) && writing() && !write_some()) || ((watch.revents & POLLIN) && !read_some()))
      worker_died();
    pump();
    post_produced();
  }

  void deadline_due(uint64_t owner, TimePoint now) override {
    if (owner != id_) return;
    armed_ = false;
    if (!running() || call_deadline_ == never) return;
    if (now < call_deadline_) return arm_call_deadline();
    death_ = "the plugin did not answer within " + isolation::seconds_text(options_.call_timeout) + " (killed)";
    crash_ = WorkerCrash::hang;
    worker_died();
    pump();
    post_produced();
  }

 private:
  enum class Phase : uint8_t {
    none,      // no worker
    starting,  // started, its hello awaited
    idle,      // ready for a work frame
    busy,      // a work frame is on its way or being answered
  };

  bool running() const { return phase_ != Phase::none; }
  bool writing() const { return sent_ < out_.size(); }

  // Sends what is pending when the worker can take it, starting one when there is none.
  void pump() {
    if (stopped_ || pending_.empty()) return;
    if (phase_ == Phase::none && !start_worker()) {
      fail_opens();
      pending_.clear();
      return;
    }
    if (phase_ != Phase::idle) return;  // the hello or the last frame's answer comes first
    for (size_t i = 0; i < pending_.size(); ++i) {
      const SessionWork &item = pending_[i];
      if (item.kind == SessionWork::Kind::open) sessions_.insert(item.session);
      if (item.kind == SessionWork::Kind::close) sessions_.erase(item.session);
    }
    out_.clear();
    sent_ = 0;
    isolation::WireWriter w(out_);
    region_.used = 0;  // the worker answered the last frame: its bytes are spent
    isolation::write_work(w, pending_, region_.data ? &region_ : nullptr);
    pending_.clear();
    phase_ = Phase::busy;
    begin_call();
    if (!write_some()) worker_died();
  }

  void post_produced() {
    if (!produced_.empty()) outbox_.post(produced_, true);
  }

  // ---- the worker --------------------------------------------------------------------------------

  // Starts a worker and sends it the settings; its hello is read when it comes (read_some). Only
  // posix_spawn runs here, and it returns once the worker's executable is running (glibc's
  // vfork-style spawn waits for the exec, nothing of the worker's own code), so a worker that is
  // slow to load its plugin never holds the engine's thread.
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
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ends) != 0) {
      failure_ = std::string("cannot start the plugin's worker: socketpair: ") + std::strerror(errno);
      return false;
    }
    // The worker's end blocks: its loop reads and writes one frame at a time.
    ::fcntl(ends[1], F_SETFL, ::fcntl(ends[1], F_GETFL) & ~O_NONBLOCK);
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
    phase_ = Phase::starting;
    out_.clear();
    sent_ = 0;
    isolation::WireWriter w(out_);
    isolation::write_settings(w, *settings_);
    begin_call();
    if (!write_some()) {
      worker_died();
      return running();
    }
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
  // kill_and_reap waits for the kernel to take down a process sent SIGKILL, which nothing in the
  // process can delay, and whose memory is bounded by the worker's limit.
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
    phase_ = Phase::none;
    call_deadline_ = never;
    out_.clear();
    sent_ = 0;
    received_ = 0;  // what the next worker sends starts afresh
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

  // The worker must go (death_ says why): the sessions it held fail, and so do the sessions that
  // were waiting for it to start.
  void worker_died() {
    const bool was_starting = phase_ == Phase::starting;
    note_death();
    for (SessionId session : sessions_) fail(session);
    sessions_.clear();
    if (was_starting) {
      fail_opens();
      pending_.clear();
    }
  }

  void fail(SessionId session) {
    SessionResult &out = produced_.add();
    out.kind = SessionResult::Kind::failed;
    out.session = session;
    out.error = make_error(ErrorKind::plugin, provider_, failure_);
  }

  // No worker could be started for the pending work: the sessions it opens fail at once (the
  // engine may fall back to another provider); the others' sessions failed already.
  void fail_opens() {
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (pending_[i].kind == SessionWork::Kind::open) fail(pending_[i].session);
    }
  }

  // ---- the channel, never blocking ---------------------------------------------------------------

  // A call (the settings and hello, or a work frame and its answer) has begun: the worker has
  // --plugin-timeout to take it, and then as long again to answer (write_some restarts it).
  void begin_call() {
    call_deadline_ = Clock::now() + options_.call_timeout;
    arm_call_deadline();
  }

  // One entry in the engine's queue per lane at most: a deadline that moved later is armed again
  // when the earlier entry comes due.
  void arm_call_deadline() {
    if (armed_ || call_deadline_ == never) return;
    armed_ = true;
    deadlines_.arm(call_deadline_, DeadlineKind::backend, id_);
  }

  // Sends what the socket takes of out_; the rest waits for POLLOUT. False, with death_ set, when
  // the worker is gone.
  bool write_some() {
    while (writing()) {
      ssize_t n = ::send(socket_, out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      death_ = ended_by_itself;
      return false;
    }
    if (phase_ == Phase::busy) begin_call();  // all sent: the answer's time starts
    return true;
  }

  // Receives what the worker sent and acts on each whole frame. False, with death_ set, when the
  // worker must go.
  bool read_some() {
    for (;;) {
      reserve_for_next_read();
      const size_t room = in_.size() - received_;
      ssize_t n = ::recv(socket_, in_.data() + received_, room, MSG_DONTWAIT);
      if (n > 0) {
        received_ += static_cast<size_t>(n);
        if (!take_frames()) return false;
        // Every frame taken and the socket drained: a worker sends one frame per call, so the
        // receive that would only find nothing is saved (the poll says when more comes).
        if (received_ == 0 && static_cast<size_t>(n) < room) return true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      death_ = ended_by_itself;
      return false;
    }
  }

  // Room for the rest of the frame being received (as far as it has a length), growing the buffer
  // by doubling so that a large frame costs few copies, and only as its bytes arrive, so that a
  // length alone cannot make the host allocate.
  void reserve_for_next_read() {
    size_t wanted = received_ + read_chunk;
    if (received_ >= sizeof(uint32_t)) {
      uint32_t length = 0;
      std::memcpy(&length, in_.data(), sizeof length);
      if (sizeof length + length > received_)
        wanted = std::max(wanted, std::min(sizeof length + length, received_ + largest_read));
    }
    if (in_.size() < wanted) in_.resize(std::max(wanted, 2 * in_.size()));
  }

  // Acts on each whole frame received; keeps a partial one for the next read.
  bool take_frames() {
    size_t begin = 0;
    while (received_ - begin >= sizeof(uint32_t)) {
      uint32_t length = 0;
      std::memcpy(&length, in_.data() + begin, sizeof length);
      if (length == 0 || length > isolation::max_frame_size) return unreadable_answer();
      if (received_ - begin - sizeof length < length) break;
      std::string_view frame(in_.data() + begin + sizeof length, length);
      begin += sizeof length + length;
      if (!take_frame(frame)) return false;
    }
    if (begin > 0) {
      std::memmove(in_.data(), in_.data() + begin, received_ - begin);
      received_ -= begin;
    }
    return true;
  }

  bool take_frame(std::string_view frame) {
    auto type = static_cast<FrameType>(frame[0]);
    isolation::WireReader reader(frame.substr(1));
    if (type == FrameType::fatal) {
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
    if (phase_ == Phase::starting && type == FrameType::hello && !writing()) return take_hello(reader);
    if (phase_ == Phase::busy && type == FrameType::results && !writing()) return take_results(reader);
    return unreadable_answer();  // a frame nobody asked for
  }

  bool take_hello(isolation::WireReader &reader) {
    isolation::ScanAnswer answer;
    bool sandboxed = false;
    std::string sandbox_error;
    if (!isolation::read_hello(reader, answer, sandboxed, sandbox_error)) {
      death_ = "the plugin's worker sent an unreadable answer";
      return false;
    }
    if (!answer.loaded) {
      death_ = "the plugin could not be loaded in its worker: " + answer.error;
      return false;
    }
    if (options_.sandbox && !sandboxed && !sandbox_refusal_reported.exchange(true)) {
      std::cerr << "provhost: warning: plugins run without a sandbox: the kernel refused seccomp (" << sandbox_error
                << ")\n";
    }
    if (std::exchange(after_crash_, false)) count_worker_restart(provider_);
    phase_ = Phase::idle;
    call_deadline_ = never;
    return true;
  }

  bool take_results(isolation::WireReader &reader) {
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
      std::swap(produced_.add(), result);
    }
    results_.clear();
    phase_ = Phase::idle;
    call_deadline_ = never;
    return true;
  }

  // The worker sent something the host cannot read: it is ended as crashed (/metrics: protocol). Returns false.
  bool unreadable_answer() {
    death_ = "the plugin's worker sent an unreadable answer (killed)";
    crash_ = WorkerCrash::protocol;
    return false;
  }

  static constexpr const char *ended_by_itself = "ended by itself";
  // Results frames are mostly a few KiB: one read takes several. A large one is read in steps of
  // at most largest_read.
  static constexpr size_t read_chunk = 64 * 1024;
  static constexpr size_t largest_read = 4u << 20;

  std::string provider_;
  std::filesystem::path file_;
  std::string instance_;  // ABI 1.1: the instance of the plugin the worker loads; "" for its own provider
  const IsolationOptions &options_;
  std::filesystem::path worker_path_;
  std::shared_ptr<const HostSettings> settings_;
  DeadlineQueue &deadlines_;
  uint64_t id_;
  bool stopped_ = false;
  Phase phase_ = Phase::none;
  pid_t pid_ = -1;
  int socket_ = -1;
  Clock::time_point started_;
  Clock::time_point restart_not_before_;
  TimePoint call_deadline_ = never;  // when the call in progress has taken too long
  bool armed_ = false;               // an entry of this lane is in the engine's deadline queue
  int deaths_ = 0;
  std::string death_;                       // why the worker is being ended, as it is found out
  std::optional<WorkerCrash> crash_;        // and how it crashed, when it did (/metrics)
  bool after_crash_ = false;                // the next worker started is a restart
  std::string last_death_;                  // why the last one ended
  std::string failure_;                     // what the sessions that cannot run are told
  std::unordered_set<SessionId> sessions_;  // open in the worker
  Batch<SessionWork> pending_;              // queued for the next work frame
  Batch<SessionResult> produced_;           // for the outbox
  std::string out_;                         // the frame being sent: [sent_, size) still to go
  size_t sent_ = 0;
  engine::ByteBuffer in_;  // received: [0, received_), a partial frame at most once acted on
  size_t received_ = 0;
  Batch<SessionResult> results_;
  isolation::BodyRegion region_;
  int region_fd_ = -1;
};

}  // namespace

std::unique_ptr<SessionBackend> make_process_backend(const Registry &registry, const IsolationOptions &options,
                                                     DeadlineQueue &deadlines) {
  // Nothing to wake: the lanes post from the engine's own thread.
  return std::make_unique<LaneBackend>(
      registry, [] {},
      [&options, &deadlines, settings = registry.settings(), next_id = uint64_t{1}](
          const ProviderPtr &provider, const std::string &name, Outbox &outbox) mutable -> std::unique_ptr<Lane> {
        return std::make_unique<WorkerLane>(
            provider ? provider->meta.name : name,
            provider ? (provider->load_path.empty() ? provider->file : provider->load_path) : std::filesystem::path(),
            provider ? provider->instance : std::string(), options, settings, outbox, deadlines, next_id++);
      },
      true);
}

}  // namespace provhost::core::engine
