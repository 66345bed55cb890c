#pragma once
// A per-thread cache of memory blocks for tensors, their storage and graph nodes.
//
// A small model's training step creates and frees a few hundred objects (a tensor handle,
// its storage and float buffer per op, a node per recorded op), most of them freed in one
// burst when the graph dies after backward. The general-purpose allocator's per-size caches
// overflow in such bursts and fall back to slower paths. Here, each thread keeps freed blocks
// on a free list per size class and hands them out again: an allocation is a pointer pop, a
// free a pointer push. Size classes are multiples of 64 bytes up to 4 KiB and of 4 KiB up to
// 1 MiB. Larger blocks, and blocks beyond a cap of 64 KiB idle per small class or 16 MiB idle
// in all large ones, go straight to ::operator new / delete; so a thread holds at most 20 MiB
// of idle blocks, returned when the thread ends.

#include <cstddef>
#include <new>

namespace ember::detail {

/// A block of at least `bytes` bytes, aligned for any scalar type (16 bytes).
void* pool_allocate(size_t bytes);
/// Returns a block from pool_allocate(bytes), possibly allocated on another thread.
void pool_deallocate(void* block, size_t bytes) noexcept;

/// Standard allocator over the pool, for std::allocate_shared and containers.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}
  T* allocate(size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__, "pool blocks are 16-aligned");
    return static_cast<T*>(pool_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
};

}  // namespace ember::detail
