// provhost-emulator: the upstream emulator as a process, for the demo, benchmarks and curl.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <emulator/emulator.hpp>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace {

std::string read_file(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// Thousands of concurrent streams need more descriptors than the usual soft limit of 1024.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// A test fixture must not outlive the test or script that started it, even when that one is
// killed: the parent's death sends the SIGTERM that stops the server cleanly.
void stop_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) raise(SIGTERM);  // it died before prctl()
}

int fail(const std::string &message) {
  std::cerr << "provhost-emulator: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char **argv) {
  const pid_t parent = getppid();
  std::string sites;
  for (std::string_view route : provhost::emulator::routes()) sites += (sites.empty() ? "" : ", ") + std::string(route);
  CLI::App app{"Stands in for the upstream sites of the bundled providers (" + sites + ") on one local HTTP port."};
  int port = 0;
  std::string host = "127.0.0.1", text_file;
  std::size_t chunk_size = provhost::emulator::Config{}.chunk_size, chunks = 0, write_size = 0;
  app.add_option("--port", port, "Port to listen on; 0 picks a free one")->check(CLI::Range(0, 65535));
  app.add_option("--listen", host, "Address to listen on");
  app.add_option("--text", text_file, "File whose UTF-8 text every answer streams (default: a tricky built-in text)");
  const std::size_t gibibyte = std::size_t(1) << 30;
  app.add_option("--chunk-size", chunk_size, "Bytes of text per streamed event, never splitting a character")
      ->check(CLI::Range(std::size_t(1), gibibyte));
  app.add_option("--chunks", chunks, "Events per answer, repeating the text's tokens; 0 = the text once")
      ->check(CLI::Range(std::size_t(0), std::size_t(10'000'000)));
  app.add_option("--write-size", write_size, "Bytes per socket write; 0 = small writes of 1-7 bytes")
      ->check(CLI::Range(std::size_t(0), gibibyte));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError &error) {
    return fail(std::string(error.what()) + " (see --help)");
  }

  // Blocked before the server thread starts, so that only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  stop_with_parent(parent);
  raise_open_file_limit();

  try {
    provhost::emulator::Config config;
    if (!text_file.empty()) config.text = read_file(text_file);
    config.chunk_size = chunk_size;
    config.chunks = chunks;
    config.write_size = write_size;
    provhost::emulator::Emulator emulator(std::move(config));
    emulator.start(static_cast<uint16_t>(port), host);
    std::cout << "listening on " << emulator.origin() << std::endl;

    int received = 0;
    sigwait(&stop_signals, &received);
    emulator.stop();
  } catch (const std::invalid_argument &error) {
    return fail(text_file + ": " + error.what());  // the options are checked above; only the text is left
  } catch (const std::exception &error) {
    return fail(error.what());
  }
  return 0;
}
