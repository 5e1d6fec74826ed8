// The sandbox's rules (sandbox.hpp) compiled by libseccomp, and libseccomp's names of system calls.
// Only the build runs this, through provhost-sandbox-filter (sandbox_filter_main.cpp): a worker
// installs the program compiled at build time, so it neither loads libseccomp nor builds the filter at
// each start (libseccomp's probing of the kernel and its compiler were a tenth of a worker's start),
// and the host names a blocked call from the table made at the same time, without libseccomp.
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "sandbox.hpp"

namespace provhost::core::isolation {
namespace {

// What a session needs, whatever the plugin: memory, time, threads and their synchronisation,
// signals the C and C++ runtimes raise (abort), and exiting.
constexpr int always_allowed[] = {
    SCMP_SYS(brk),
    SCMP_SYS(mmap),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(mprotect),
    SCMP_SYS(madvise),
    SCMP_SYS(futex),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(clock_getres),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(time),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    SCMP_SYS(getrandom),
    SCMP_SYS(sched_yield),
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(tgkill),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(sigaltstack),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
    SCMP_SYS(set_robust_list),
    SCMP_SYS(rseq),
    SCMP_SYS(sched_getaffinity),
    SCMP_SYS(getrusage),
    SCMP_SYS(prlimit64),
    SCMP_SYS(membarrier),
};

// libseccomp writes the program to a descriptor: a memory file, read back whole.
std::string exported_program(scmp_filter_ctx filter) {
  const int file = ::memfd_create("provhost-sandbox-filter", MFD_CLOEXEC);
  if (file < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
  std::string program;
  const int error = seccomp_export_bpf(filter, file);
  if (error == 0 && ::lseek(file, 0, SEEK_SET) == 0) {
    char buffer[4096];
    for (ssize_t n; (n = ::read(file, buffer, sizeof buffer)) > 0;) program.append(buffer, static_cast<size_t>(n));
  }
  ::close(file);
  if (error != 0) throw std::runtime_error(std::string("seccomp_export_bpf: ") + std::strerror(-error));
  return program;
}

}  // namespace

std::string compile_sandbox_filter(int channel) {
  std::unique_ptr<void, decltype(&seccomp_release)> filter(seccomp_init(SCMP_ACT_TRAP), &seccomp_release);
  if (!filter) throw std::runtime_error("seccomp_init failed");
  auto allow = [&](int call, unsigned count = 0, const scmp_arg_cmp *args = nullptr) {
    return seccomp_rule_add_array(filter.get(), SCMP_ACT_ALLOW, call, count, args) == 0;
  };
  bool ok = true;
  for (int call : always_allowed) ok = ok && allow(call);
  // Its channel, and stderr for the plugins' log lines; no other descriptor.
  for (int fd : {channel, 2}) {
    scmp_arg_cmp on_fd = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(fd));
    ok = ok && allow(SCMP_SYS(write), 1, &on_fd) && allow(SCMP_SYS(writev), 1, &on_fd);
  }
  scmp_arg_cmp on_channel = SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(channel));
  ok = ok && allow(SCMP_SYS(read), 1, &on_channel) && allow(SCMP_SYS(sendto), 1, &on_channel) &&
       allow(SCMP_SYS(recvfrom), 1, &on_channel) && allow(SCMP_SYS(close), 1, &on_channel);
  // Threads, not processes: clone only with CLONE_THREAD; clone3 (whose flags seccomp cannot read)
  // answers ENOSYS, which makes the C library fall back to clone.
  scmp_arg_cmp thread_only = SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
  ok = ok && allow(SCMP_SYS(clone), 1, &thread_only) &&
       seccomp_rule_add(filter.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) == 0;
  if (!ok) throw std::runtime_error("a seccomp rule could not be added");
  return exported_program(filter.get());
}

std::string libseccomp_syscall_name(int number) {
  std::unique_ptr<char, decltype(&std::free)> name(seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number),
                                                   &std::free);
  return name ? std::string(name.get()) : std::string();
}

}  // namespace provhost::core::isolation
