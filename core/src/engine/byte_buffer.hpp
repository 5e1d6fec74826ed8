// byte_buffer.hpp: growable bytes whose growth does not zero the new room, for the buffers that a
// socket's frames are read into (the host's end of a worker's socket, the worker's end): a page is
// touched only when a read fills it, where a vector of char zeroed every byte it grew by.
#pragma once

#include <memory>
#include <utility>
#include <vector>

namespace provhost::core::engine {

// An allocator whose elements made without a value are left uninitialised, so that a vector's
// resize grows without writing to the new elements.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  UninitializedAllocator() noexcept = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U> &) noexcept {}
  template <class U>
  void construct(U *at) noexcept {
    ::new (static_cast<void *>(at)) U;
  }
  template <class U, class... Args>
  void construct(U *at, Args &&...args) {
    ::new (static_cast<void *>(at)) U(std::forward<Args>(args)...);
  }
};

// Zeroing a 64 KiB receive buffer on its first resize cost every worker's start and every lane's
// first answer 16 page faults, for first frames of 100 bytes.
using ByteBuffer = std::vector<char, UninitializedAllocator<char>>;

}  // namespace provhost::core::engine
