#pragma once
// A per-thread cache of memory blocks for tensors, their storage and graph nodes.
//
// A small model's training step creates and frees a few hundred objects (a tensor handle,
// its storage and float buffer per op, a node per recorded op), most of them freed in one
// burst when the graph dies after backward. The general-purpose allocator's per-size caches
// overflow in such bursts and fall back to slower paths. Here, each thread keeps freed blocks
// on a free list per size class and hands them out again: an allocation is a pointer pop, a
// free a pointer push. Size classes are multiples of 64 bytes up to 4 KiB and of 4 KiB up to
// 1 MiB; blocks beyond a cap of 64 KiB idle per small class or 16 MiB idle in all large ones go
// straight to ::operator new / delete, so a thread holds at most 20 MiB of idle blocks, returned
// when the thread ends.
//
// Blocks above 1 MiB are shared by all threads and mapped straight from the kernel, on a 2 MiB
// boundary and marked for transparent huge pages; a freed one waits for a request of the same size
// (rounded up to 4 KiB), as long as the live and idle ones together stay within the most ever live
// at once, and at most kLargeBlockStaleAfter more such requests; then it is unmapped.
// AddressSanitizer builds bypass both caches.

#include <cstddef>
#include <cstdint>
#include <new>

namespace ember::detail {

/// False in AddressSanitizer builds: every block then goes straight to ::operator new / delete,
/// so that ASan sees each use after free. GCC defines __SANITIZE_ADDRESS__; Clang (to 14 at
/// least) only answers __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kPooling = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kPooling = false;
#else
inline constexpr bool kPooling = true;
#endif
#else
inline constexpr bool kPooling = true;
#endif

/// Small blocks, up to 4 KiB, come in classes of 64-byte multiples.
inline constexpr size_t kSmallGranule = 64;
inline constexpr size_t kSmallClasses = 64;
/// At most 64 KiB of idle blocks per small class, so a list holds at most this many blocks of
/// class c (of (c + 1) · 64 bytes): 1024 / (c + 1).
inline constexpr size_t kSmallIdleGranules = 1024;

/// A free block keeps the link to the next one in its first bytes.
struct FreeBlock {
  FreeBlock* next;
};

/// This thread's free lists of small blocks. Plain data, constant-initialised, so that the
/// inline paths below reach it with one thread-pointer-relative access and no guard; the
/// thread's Pool (allocator.cpp) sets `active` when it starts and clears it, after returning
/// every listed block, when the thread ends.
struct SmallFreeLists {
  FreeBlock* head[kSmallClasses];
  uint32_t count[kSmallClasses];
  bool active;
};
extern thread_local constinit SmallFreeLists small_free_lists;

/// The paths of pool_allocate and pool_deallocate that are not a list pop or push.
void* pool_allocate_slow(size_t bytes);
void pool_deallocate_slow(void* block, size_t bytes) noexcept;

// The two entry points' common case inline (a pointer pop or push): a small model's training
// step allocates and frees ~150 blocks each, and behind a call each took ~30 instructions,
// 10% of the seed step's time. With `bytes` a constant (a tensor handle, a node), the class is
// one too.

/// A block of at least `bytes` bytes, aligned to a cache line (64 bytes), so that a tensor's
/// floats start on one and a vector loop over them splits no load or store across two.
inline void* pool_allocate(size_t bytes) {
  const size_t c = (bytes - 1) / kSmallGranule;  // bytes == 0 wraps: not a small class
  if (kPooling && c < kSmallClasses) {
    SmallFreeLists& lists = small_free_lists;
    if (FreeBlock* block = lists.head[c]) {
      lists.head[c] = block->next;
      --lists.count[c];
      return block;
    }
  }
  return pool_allocate_slow(bytes);
}

/// Lists `block`, of small class c, on this thread's lists; false, doing nothing, where they
/// are not open or class c's is full.
inline bool list_small_block(void* block, size_t c) {
  SmallFreeLists& lists = small_free_lists;
  if (!lists.active || lists.count[c] * (c + 1) >= kSmallIdleGranules) return false;
  lists.head[c] = new (block) FreeBlock{lists.head[c]};
  ++lists.count[c];
  return true;
}

/// Returns a block from pool_allocate(bytes), possibly allocated on another thread.
inline void pool_deallocate(void* block, size_t bytes) noexcept {
  const size_t c = (bytes - 1) / kSmallGranule;
  if (kPooling && block && c < kSmallClasses && list_small_block(block, c)) return;
  pool_deallocate_slow(block, bytes);
}

/// How many requests for blocks above 1 MiB a freed one waits before it is released.
constexpr size_t kLargeBlockStaleAfter = 1024;

/// Bytes in blocks above 1 MiB: in use, idle (freed and waiting for reuse), and the most ever in
/// use at once (the bound on in use plus idle).
struct LargeBlockStats {
  size_t live_bytes = 0, idle_bytes = 0, peak_live_bytes = 0;
};
LargeBlockStats large_block_stats();
/// Returns every idle block above 1 MiB to the system.
void release_idle_large_blocks();

/// Standard allocator over the pool, for std::allocate_shared and containers.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) {}
  T* allocate(size_t n) {
    static_assert(alignof(T) <= 64, "pool blocks are 64-aligned");
    return static_cast<T*>(pool_allocate(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept { pool_deallocate(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const {
    return true;
  }
};

}  // namespace ember::detail
