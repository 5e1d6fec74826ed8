// The plugin worker process (provhost-plugin-worker): loads one plugin file and either answers its
// metadata (scan) or runs its sessions (session), talking to the host over file descriptor 3.
// Session work is run by the same SessionRunner the in-process backend uses.
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <new>
#include <provhost/core/host_services.hpp>
#include <provhost/core/isolation.hpp>
#include <provhost/core/plugin_loader.hpp>
#include <provhost/core/validate.hpp>
#include <string>
#include <vector>

#include "../engine/byte_buffer.hpp"
#include "../engine/session_runner.hpp"
#include "../platform.hpp"
#include "child.hpp"
#include "sandbox.hpp"
#include "wire.hpp"

namespace provhost::core {
namespace {

constexpr int channel = 3;

struct WorkerArgs {
  std::string mode;
  std::filesystem::path file;
  std::string instance;  // ABI 1.1: the instance to load the plugin for; "" for its own provider
  std::uint64_t memory = 0;
  std::uint64_t body_region = 0;  // session: the size of the body region on descriptor 4; 0: none
  bool sandbox = true;
  ph_log_level log_level = PH_LOG_INFO;
  std::string check;  // validate: which check (validate.hpp)
};

bool parse(int argc, char **argv, WorkerArgs &args) {
  if (argc < 3) return false;
  args.mode = argv[1];
  args.file = argv[2];
  for (int i = 3; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--memory" && i + 1 < argc) {
      args.memory = std::stoull(argv[++i]);
    } else if (arg == "--log-level" && i + 1 < argc) {
      args.log_level = static_cast<ph_log_level>(std::stoi(argv[++i]));
    } else if (arg == "--check" && i + 1 < argc) {
      args.check = argv[++i];
    } else if (arg == "--body-region" && i + 1 < argc) {
      args.body_region = std::stoull(argv[++i]);
    } else if (arg == "--instance" && i + 1 < argc) {
      args.instance = argv[++i];
    } else if (arg == "--no-sandbox") {
      args.sandbox = false;
    } else {
      return false;
    }
  }
  return args.mode == "scan" || args.mode == "session" || (args.mode == "validate" && !args.check.empty());
}

void limit_memory(std::uint64_t bytes) {
#ifdef PROVHOST_SANITIZED_BUILD
  bytes = 0;
#endif
  if (bytes == 0) return;
  rlimit limit{bytes, bytes};
  ::setrlimit(RLIMIT_AS, &limit);
}

// The worker's frames (its settings, then the session loop's), read through a buffer: a frame
// usually arrives whole, and then costs one read rather than one for its length and one for the rest.
class FrameReader {
 public:
  // The next whole frame: its type and its fields (valid until the next call); false at the end of
  // the channel or on a length no host sends.
  bool next(isolation::FrameType &type, std::string_view &fields) {
    begin_ += taken_;
    taken_ = 0;
    for (;;) {
      const size_t have = end_ - begin_;
      uint32_t length = 0;
      if (have >= sizeof length) {
        std::memcpy(&length, buffer_.data() + begin_, sizeof length);
        if (length == 0 || length > isolation::max_frame_size) return false;
        if (have - sizeof length >= length) {
          type = static_cast<isolation::FrameType>(buffer_[begin_ + sizeof length]);
          fields = std::string_view(buffer_.data() + begin_ + sizeof length + 1, length - 1);
          taken_ = sizeof length + length;
          return true;
        }
      }
      // Room for the whole frame (as far as its length is known) after what is here.
      if (begin_ > 0 && have > 0) std::memmove(buffer_.data(), buffer_.data() + begin_, have);
      begin_ = 0;
      end_ = have;
      const size_t wanted = std::max(have + read_size, sizeof length + static_cast<size_t>(length));
      if (buffer_.size() < wanted) buffer_.resize(std::max(wanted, 2 * buffer_.size()));
      ssize_t n = ::read(channel, buffer_.data() + end_, buffer_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      end_ += static_cast<size_t>(n);
    }
  }

 private:
  static constexpr size_t read_size = 64 * 1024;
  engine::ByteBuffer buffer_;   // grows without zeroing (byte_buffer.hpp)
  size_t begin_ = 0, end_ = 0;  // what was read and not yet taken
  size_t taken_ = 0;            // the frame handed out last, taken on the next call
};

isolation::ScanAnswer load(const WorkerArgs &args, std::shared_ptr<const HostSettings> settings, PluginLoad &load) {
  load = load_plugin(args.file, std::move(settings), args.instance);
  isolation::ScanAnswer answer;
  if (!load.provider) {
    answer.error = load.error;
    return answer;
  }
  answer.loaded = true;
  answer.meta = load.provider->meta;
  answer.abi_offered = load.provider->abi_offered;
  answer.abi_negotiated = load.provider->abi_negotiated;
  return answer;
}

// What the host services need before the sandbox closes the door: OpenSSL's digests initialise
// themselves (and may read their configuration) on first use.
void warm_up_host_services() {
  uint8_t digest[64];
  for (const char *algorithm : {"md5", "sha1", "sha256"}) compute_digest(algorithm, "", digest);
}

int scan(const WorkerArgs &args) {
  auto settings = std::make_shared<HostSettings>();
  settings->log_level = args.log_level;
  PluginLoad loaded;
  isolation::ScanAnswer answer = load(args, settings, loaded);
  std::string frame;
  isolation::WireWriter w(frame);
  isolation::write_scan(w, answer);
  isolation::write_all(channel, frame.data(), frame.size());
  // No unloading: the answer is out, and a plugin's deinit or destructors must not get a say.
  ::_exit(0);
}

// The host's body region, read-only here (wire.hpp); its descriptor is closed once mapped, so that
// the plugin cannot map it again. Empty when the host shares none.
std::optional<std::string_view> map_body_region(std::uint64_t size) {
  if (size == 0) return std::string_view();
  void *mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, isolation::body_region_descriptor, 0);
  int error = errno;
  ::close(isolation::body_region_descriptor);
  if (mapped == MAP_FAILED) {
    std::cerr << "provhost-plugin-worker: cannot map the body region: " << std::strerror(error) << "\n";
    return std::nullopt;
  }
  return std::string_view(static_cast<const char *>(mapped), size);
}

int serve_sessions(const WorkerArgs &args) {
  std::optional<std::string_view> region = map_body_region(args.body_region);
  if (!region) return 1;
  auto settings = std::make_shared<HostSettings>();
  FrameReader frames;
  isolation::FrameType type{};
  std::string_view fields;
  if (!frames.next(type, fields) || type != isolation::FrameType::settings) return 1;
  isolation::WireReader settings_reader(fields);
  if (!isolation::read_settings(settings_reader, *settings)) return 1;

  PluginLoad loaded;
  isolation::ScanAnswer answer = load(args, settings, loaded);
  ProviderPtr provider = std::move(loaded.provider);
  warm_up_host_services();
  std::string sandbox_error = args.sandbox ? isolation::enter_sandbox(channel) : "";

  std::string out;
  isolation::WireWriter w(out);
  isolation::write_hello(w, answer, args.sandbox && sandbox_error.empty(), sandbox_error);
  if (!isolation::write_all(channel, out.data(), out.size()) || !answer.loaded) ::_exit(0);

  engine::SessionRunner runner(provider);
  engine::Batch<engine::SessionWork> work;
  engine::Batch<engine::SessionResult> results;
  while (frames.next(type, fields)) {
    if (type != isolation::FrameType::work) break;
    isolation::WireReader reader(fields);
    work.clear();
    if (!isolation::read_work(reader, work, *region)) break;
    runner.run(work, results);
    out.clear();
    isolation::write_results(w, results);
    results.clear();
    if (!isolation::write_all(channel, out.data(), out.size())) break;
  }
  // The host is gone or done: the process ends, and the plugin's sessions with it.
  ::_exit(0);
}

void out_of_memory_handler() { worker_out_of_memory(); }

}  // namespace

std::filesystem::path default_worker_path() {
  std::optional<std::filesystem::path> executable = platform::executable_path();
  std::filesystem::path folder = executable ? executable->parent_path() : std::filesystem::path(".");
  return folder / "provhost-plugin-worker";
}

void worker_out_of_memory() {
  isolation::die_with(channel, static_cast<uint8_t>(isolation::FatalCause::out_of_memory), 0);
}

int run_plugin_worker(int argc, char **argv) {
  WorkerArgs args;
  try {
    if (!parse(argc, argv, args)) {
      std::cerr
          << "provhost-plugin-worker: started by provhost only (scan|session FILE [--memory BYTES] "
             "[--log-level N] [--no-sandbox] [--instance NAME] [--body-region BYTES], or validate FILE --check NAME "
             "[--memory BYTES], with its channel on descriptor 3)\n";
      return 2;
    }
  } catch (const std::exception &) {
    std::cerr << "provhost-plugin-worker: bad argument\n";
    return 2;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::signal(SIGPIPE, SIG_IGN);
  std::set_new_handler(&out_of_memory_handler);
  limit_memory(args.memory);
  if (args.mode == "validate") {
    warm_up_host_services();
    // No unloading by exit handlers: the check unloaded what it loaded, and said so or crashed.
    ::_exit(run_validation_check(args.file, args.check, channel));
  }
  return args.mode == "scan" ? scan(args) : serve_sessions(args);
}

}  // namespace provhost::core
