// wire.hpp: how work, results and scan answers cross the socket between the host and a plugin
// worker process. Plain length-prefixed binary: each frame is a 4-byte length, a 1-byte type and
// its fields (integers little-endian as the machine has them: both ends are the same build).
// Hand-written rather than a serialisation library because the structs are few and flat, the
// buffers must be reused from batch to batch (nothing allocated per chunk of a stream), and the
// host reads what a worker sends as hostile: every length and enumerator is checked, and a frame
// that does not read back exactly is refused.
#pragma once

#include <cstdint>
#include <optional>
#include <provhost/core/registry.hpp>
#include <string>
#include <string_view>

#include "../engine/session_backend.hpp"

namespace provhost::core::isolation {

using engine::Batch;
using engine::SessionResult;
using engine::SessionWork;

enum class FrameType : uint8_t {
  settings = 1,  // host -> worker, first: the host services' answers
  work = 2,      // host -> worker: a batch of SessionWork
  results = 3,   // worker -> host: the results of one work batch
  fatal = 4,     // worker -> host, last: why it is about to end (memory, sandbox)
  scan = 5,      // scanning worker -> host: a plugin's metadata, or why it was rejected
  hello = 6,     // session worker -> host, once loaded: the scan answer and the sandbox's state
};

// The largest frame either side accepts: far beyond any honest batch (bodies come in 64 KiB
// buffers), small enough that a worker cannot make the host allocate without bound.
inline constexpr uint32_t max_frame_size = 256u << 20;

// What the fatal frame says.
enum class FatalCause : uint8_t { out_of_memory = 1, sandbox = 2 };

// Appends fields to a reusable buffer. begin() starts a frame; end() fills in its length.
class WireWriter {
 public:
  explicit WireWriter(std::string &out) : out_(out) {}
  void begin(FrameType type);
  void end();
  void u8(uint8_t value) { out_.push_back(static_cast<char>(value)); }
  void u32(uint32_t value) { raw(&value, sizeof value); }
  void u64(uint64_t value) { raw(&value, sizeof value); }
  void str(std::string_view text);

 private:
  void raw(const void *data, size_t size) { out_.append(static_cast<const char *>(data), size); }
  std::string &out_;
  size_t frame_start_ = 0;
};

// Reads fields from one frame's payload; any overrun makes ok() false and every later read empty.
class WireReader {
 public:
  explicit WireReader(std::string_view payload) : rest_(payload) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  void str(std::string &out);  // reuses out's storage
  // A count of items each at least `min_item_size` bytes long: refused when the rest cannot hold them.
  uint32_t count(size_t min_item_size);
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && rest_.empty(); }
  void fail() { ok_ = false; }

 private:
  bool take(void *out, size_t size);
  std::string_view rest_;
  bool ok_ = true;
};

void write_settings(WireWriter &w, const HostSettings &settings);
bool read_settings(WireReader &r, HostSettings &settings);

// Memory shared with a session worker (a memfd both map) that body bytes are written to instead of
// the work frame: they reach the plugin without passing through the socket, two copies and the
// kernel's socket buffers fewer per byte. One work frame uses it at a time: the host writes the
// next frame's bytes only once the worker has answered the last, and never reads the region, so
// whatever a worker writes there reaches nobody but its own plugin.
struct BodyRegion {
  char *data = nullptr;
  size_t size = 0;
  size_t used = 0;  // by the frame being written
};

// Body bytes go to `region` while they fit (null: all in the frame); the caller empties the region
// (used = 0) before each frame.
void write_work(WireWriter &w, Batch<SessionWork> &work, BodyRegion *region = nullptr);
// `region`: the worker's view of the body region; a body placed outside it fails the frame.
bool read_work(WireReader &r, Batch<SessionWork> &work, std::string_view region = {});

void write_results(WireWriter &w, Batch<SessionResult> &results);
bool read_results(WireReader &r, Batch<SessionResult> &results);

// A scan's answer: the metadata and ABI versions of a plugin that loaded, or the reason it did not.
struct ScanAnswer {
  bool loaded = false;
  ProviderMeta meta;
  uint32_t abi_offered = 0;
  uint32_t abi_negotiated = 0;
  std::string error;
};
void write_scan(WireWriter &w, const ScanAnswer &answer);
bool read_scan(WireReader &r, ScanAnswer &answer);  // the payload after the frame's type

// A session worker's first frame: whether the plugin loaded (and if not why), and whether the
// sandbox is in place (and if not why the kernel refused it).
void write_hello(WireWriter &w, const ScanAnswer &answer, bool sandboxed, const std::string &sandbox_error);
bool read_hello(WireReader &r, ScanAnswer &answer, bool &sandboxed, std::string &sandbox_error);

}  // namespace provhost::core::isolation
