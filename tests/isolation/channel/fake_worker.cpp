// provhost-fake-worker: stands in for provhost-plugin-worker in tests of the host's side of the
// channel (channel_test.cpp), misbehaving in one way chosen by the name of the plugin file it is
// given (`session MODE.so ...`), since the host passes nothing else a test controls:
//   pieces      answers every work frame (an `opened` for each open), one byte per write
//   stall       answers the first work frame, then never reads again
//   die         answers the first work frame, reads the first bytes of the next, exits with status 7
//   half        answers the first work frame, then sends half of the next one's answer, and waits
//   unasked     answers the first work frame, then sends a second results frame nobody asked for
//   no-hello    never sends its hello
// It waits with pause(): the host kills it, or it dies with the host (PR_SET_PDEATHSIG).
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>

#include "isolation/child.hpp"
#include "isolation/wire.hpp"

namespace {

using namespace provhost::core;
using isolation::FrameType;

constexpr int channel = 3;

bool read_frame(std::string &frame) {
  uint32_t length = 0;
  if (!isolation::read_exactly(channel, reinterpret_cast<char *>(&length), sizeof length)) return false;
  if (length == 0 || length > isolation::max_frame_size) return false;
  frame.resize(length);
  return isolation::read_exactly(channel, frame.data(), length);
}

void send_bytewise(const std::string &bytes) {
  for (char byte : bytes) {
    if (!isolation::write_all(channel, &byte, 1)) _exit(1);
    // Lets the host's poll see each piece on its own, most of the time.
    usleep(100);
  }
}

[[noreturn]] void wait_for_the_end() {
  for (;;) pause();
}

// The results of one work frame: `opened` for each open.
std::string answer(const std::string &frame, std::string_view region) {
  engine::Batch<engine::SessionWork> work;
  isolation::WireReader reader(std::string_view(frame).substr(1));
  if (static_cast<FrameType>(frame[0]) != FrameType::work || !isolation::read_work(reader, work, region)) _exit(1);
  engine::Batch<engine::SessionResult> results;
  for (size_t i = 0; i < work.size(); ++i) {
    if (work[i].kind != engine::SessionWork::Kind::open) continue;
    engine::SessionResult &out = results.add();
    out.kind = engine::SessionResult::Kind::opened;
    out.session = work[i].session;
  }
  std::string out;
  isolation::WireWriter w(out);
  isolation::write_results(w, results);
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (argc < 3) return 2;
  const std::string mode = std::filesystem::path(argv[2]).stem().string();
  std::string_view region;
  for (int i = 3; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--body-region") != 0) continue;
    size_t size = std::stoull(argv[i + 1]);
    void *mapped = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, isolation::body_region_descriptor, 0);
    if (mapped == MAP_FAILED) return 1;
    region = std::string_view(static_cast<const char *>(mapped), size);
  }
  std::string frame;
  if (!read_frame(frame) || static_cast<FrameType>(frame[0]) != FrameType::settings) return 1;
  if (mode == "no-hello") wait_for_the_end();
  std::string hello;
  isolation::WireWriter w(hello);
  isolation::ScanAnswer loaded;
  loaded.loaded = true;
  isolation::write_hello(w, loaded, false, "");
  if (mode == "pieces")
    send_bytewise(hello);
  else if (!isolation::write_all(channel, hello.data(), hello.size()))
    return 1;

  for (int frames = 0; read_frame(frame); ++frames) {
    std::string results = answer(frame, region);
    if (mode == "die" && frames == 0) {
      isolation::write_all(channel, results.data(), results.size());
      char first[2];
      isolation::read_exactly(channel, first, sizeof first);
      _exit(7);
    }
    if (mode == "half" && frames == 1) {
      isolation::write_all(channel, results.data(), results.size() / 2);
      wait_for_the_end();
    }
    if (mode == "pieces") {
      send_bytewise(results);
      continue;
    }
    isolation::write_all(channel, results.data(), results.size());
    if (mode == "stall") wait_for_the_end();
    if (mode == "unasked") isolation::write_all(channel, results.data(), results.size());
  }
  return 0;
}
