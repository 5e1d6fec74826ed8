#include "sandbox.hpp"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <string_view>

#include "sandbox_filter.inc"  // generated at build time: sandbox_filter_program, sandbox_filter_channel
#include "syscall_names.inc"   // generated at build time: syscall_names
#include "wire.hpp"

namespace provhost::core::isolation {
namespace {

int sandbox_channel = -1;

void on_blocked_call(int, siginfo_t *info, void *) {
  die_with(sandbox_channel, static_cast<uint8_t>(FatalCause::sandbox), static_cast<uint32_t>(info->si_syscall));
}

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
  if (number >= 0 && static_cast<size_t>(number) < std::size(syscall_names) && !syscall_names[number].empty())
    return std::string(syscall_names[number]);
  return "system call " + std::to_string(number);
}

std::string enter_sandbox(int channel) {
  sandbox_channel = channel;
  struct sigaction action {};
  action.sa_sigaction = &on_blocked_call;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) return std::string("sigaction: ") + std::strerror(errno);

  // The program was compiled for the worker's channel (sandbox_filter_main.cpp).
  if (channel != sandbox_filter_channel)
    return "the sandbox is built for descriptor " + std::to_string(sandbox_filter_channel);
  sock_fprog program{static_cast<unsigned short>(sizeof sandbox_filter_program / sizeof(sock_filter)),
                     const_cast<sock_filter *>(sandbox_filter_program)};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return std::string("prctl: ") + std::strerror(errno);
  // Every thread of the worker, also those a plugin started while it loaded; a positive answer is
  // a thread that could not be covered. The messages are libseccomp's seccomp_load's, as before.
  const long answer = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &program);
  if (answer == 0) return {};
  return std::string("seccomp_load: ") + std::strerror(answer > 0 ? ESRCH : errno);
}

}  // namespace provhost::core::isolation
