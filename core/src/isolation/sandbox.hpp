// sandbox.hpp: the seccomp filter a session worker runs under once its plugin is loaded. Plugins
// do no I/O by design, so the worker may use memory, time, threads, its own channel and stderr,
// and nothing else: no files, no sockets, no exec. A forbidden system call ends the worker with a
// fatal frame naming the call ("blocked by the sandbox: openat").
#pragma once

#include <string>

namespace provhost::core::isolation {

// Installs the filter on this process; "" when it is in place, else why the kernel refused it. The
// filter is the program compile_sandbox_filter made at build time, for the worker's channel.
std::string enter_sandbox(int channel);

// The filter for a worker whose channel is `channel`, as a seccomp BPF program (struct sock_filter
// after struct sock_filter), compiled by libseccomp; throws std::runtime_error when it cannot be.
// The build's (provhost_sandbox_rules), as libseccomp_syscall_name.
std::string compile_sandbox_filter(int channel);

// The name of system call `number` on this machine ("openat"), or "system call N": libseccomp's
// names, tabled at build time.
std::string syscall_name(int number);

// What the build uses (sandbox_rules.cpp, the library provhost_sandbox_rules, with libseccomp):
// libseccomp's name of system call `number` on this machine, "" when it has none.
std::string libseccomp_syscall_name(int number);

// Writes the fatal frame for `cause` (and `value`) to `channel` and ends the process at once; safe
// in a signal handler and in an allocator that failed.
[[noreturn]] void die_with(int channel, uint8_t cause, uint32_t value);

}  // namespace provhost::core::isolation
