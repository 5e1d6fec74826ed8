#include "sandbox.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "wire.hpp"

namespace provhost::core::isolation {
namespace {

int sandbox_channel = -1;

void on_blocked_call(int, siginfo_t *info, void *) {
  die_with(sandbox_channel, static_cast<uint8_t>(FatalCause::sandbox), static_cast<uint32_t>(info->si_syscall));
}

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

}  // namespace

void die_with(int channel, uint8_t cause, uint32_t value) {
  // Length 6: the type, the cause and the value; built on the stack, nothing allocated.
  unsigned char frame[4 + 1 + 1 + 4];
  uint32_t length = sizeof frame - 4;
  std::memcpy(frame, &length, 4);
  frame[4] = static_cast<unsigned char>(FrameType::fatal);
  frame[5] = cause;
  std::memcpy(frame + 6, &value, 4);
  if (channel >= 0) {
    ssize_t ignored = ::write(channel, frame, sizeof frame);
    (void)ignored;
  }
  ::_exit(70);
}

std::string syscall_name(int number) {
  std::unique_ptr<char, decltype(&std::free)> name(seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, number),
                                                   &std::free);
  return name ? std::string(name.get()) : "system call " + std::to_string(number);
}

std::string enter_sandbox(int channel) {
  sandbox_channel = channel;
  struct sigaction action {};
  action.sa_sigaction = &on_blocked_call;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) return std::string("sigaction: ") + std::strerror(errno);

  std::unique_ptr<void, decltype(&seccomp_release)> filter(seccomp_init(SCMP_ACT_TRAP), &seccomp_release);
  if (!filter) return "seccomp_init failed";
  // Every thread of the worker, also those a plugin started while it loaded.
  if (seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 1) != 0) return "seccomp cannot cover every thread";
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
  if (!ok) return "a seccomp rule could not be added";
  if (int error = seccomp_load(filter.get()); error != 0) return std::string("seccomp_load: ") + std::strerror(-error);
  return {};
}

}  // namespace provhost::core::isolation
