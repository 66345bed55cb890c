#include <ember/core/allocator.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

namespace ember::detail {

namespace {

// Small classes are multiples of 64 bytes up to 4 KiB (allocator.h: their lists are
// thread-local plain data, popped and pushed inline); large ones multiples of 4 KiB up to 1 MiB.
// A step of a batched model frees tensors of ~100 KiB ([8, 64, 50] floats) in a burst; handed
// back to malloc, glibc returns the top of its heap to the system (its trim threshold is
// 128 KiB) and the next step faults every page in again: a batched ensemble step at K = 8
// spent ~40% of its time in the kernel that way.
constexpr size_t kSmallLargest = kSmallClasses * kSmallGranule;  // 4 KiB
constexpr size_t kPage = 4096;
// Every block starts on a cache line (allocator.h). With malloc's 16 bytes, a vector loop over
// a tensor's floats split most of its 64-byte loads and stores across two lines: an 8-member
// ensemble step took 6% longer, the seed model's SGD update 4%.
constexpr std::align_val_t kBlockAlignment{64};
constexpr size_t kLargest = 1 << 20;                               // bigger blocks bypass the pool
constexpr size_t kClasses = kSmallClasses + kLargest / kPage - 1;  // 64 + 255
constexpr size_t kMaxCachedLargeBytes = 16 << 20;  // at most 16 MiB idle in all large lists

// Every block of at most kLargest bytes has its class's size, even one that bypassed the
// pool, since another thread may cache it.
size_t size_class(size_t bytes) {
  if (bytes <= kSmallLargest) return (bytes + kSmallGranule - 1) / kSmallGranule - 1;
  return kSmallClasses + (bytes + kPage - 1) / kPage - 2;
}
size_t class_bytes(size_t c) {
  return c < kSmallClasses ? (c + 1) * kSmallGranule : (c - kSmallClasses + 2) * kPage;
}

struct FreeList {
  FreeBlock* head = nullptr;
  size_t count = 0;
};

// Set once this thread's pool is destroyed: a tensor freed late in thread exit (a static,
// say) must not touch it. Trivially destructible, so always readable.
thread_local bool pool_destroyed = false;

// A thread's pool: the small lists of allocator.h, which it opens for the inline paths while
// it lives, and the large lists here.
class Pool {
 public:
  Pool() { small_free_lists.active = true; }

  ~Pool() {
    small_free_lists.active = false;
    for (size_t c = 0; c < kSmallClasses; ++c) {
      FreeBlock*& head = small_free_lists.head[c];
      while (head) ::operator delete(std::exchange(head, head->next), kBlockAlignment);
      small_free_lists.count[c] = 0;
    }
    for (FreeList& list : large_) {
      while (list.head)
        ::operator delete(std::exchange(list.head, list.head->next), kBlockAlignment);
    }
    pool_destroyed = true;
  }

  // A block of class c, when the inline path found none listed (or this is a large class).
  void* allocate(size_t c) {
    if (c < kSmallClasses) return ::operator new(class_bytes(c), kBlockAlignment);
    FreeList& list = large_[c - kSmallClasses];
    if (!list.head) return ::operator new(class_bytes(c), kBlockAlignment);
    --list.count;
    idle_large_bytes_ -= class_bytes(c);
    return std::exchange(list.head, list.head->next);
  }

  // Lists a block of class c, or frees it where its list is full.
  void deallocate(void* block, size_t c) {
    if (c < kSmallClasses) {
      if (!list_small_block(block, c)) ::operator delete(block, kBlockAlignment);
      return;
    }
    if (idle_large_bytes_ + class_bytes(c) > kMaxCachedLargeBytes) {
      ::operator delete(block, kBlockAlignment);
      return;
    }
    FreeList& list = large_[c - kSmallClasses];
    list.head = new (block) FreeBlock{list.head};
    ++list.count;
    idle_large_bytes_ += class_bytes(c);
  }

 private:
  std::array<FreeList, kClasses - kSmallClasses> large_{};
  size_t idle_large_bytes_ = 0;
};

bool pooled_size(size_t bytes) { return bytes > 0 && bytes <= kLargest; }

// Blocks above kLargest, shared by all threads under a lock: each such block is at least 1 MiB
// of floats that the op then writes, so the lock is noise beside it. glibc hands blocks this
// big back to the system when they are freed (or trims its heap's top), and the next step
// faults every page in again, zeroed by the kernel: the largest multitask step (16 MiB
// activations and gradients) spent 10-13% of its time that way. So freed blocks wait here, in
// the order they were freed, for a request of the same size. Two rules bound what is kept:
//  - footprint: live + idle bytes never exceed the most that was ever live at once, so the
//    cache never raises a program's peak; a request that finds no block of its size first
//    frees the oldest idle blocks until the new block fits under that peak;
//  - staleness: a block still idle after kLargeBlockStaleAfter more large requests is freed,
//    so a size no longer asked for (one big evaluation, then small training) does not stay.
//
// The blocks are mapped from the kernel and unmapped when freed, not taken from malloc: glibc
// raises its mmap threshold each time it frees a mapped chunk bigger than the threshold, after
// which blocks of that size come from its heap, where a freed one stays resident. How far the
// threshold has risen depends on the process's history down to its libraries' start-up: the
// largest multitask step's peak read 103 MiB above the start with the program's output going to
// a file and 135 MiB with it going to a pipe.
//
// Its two entry points are kept out of line, so that the pool's small-block path, inlined into
// the same functions, does not save and restore six registers on every call for them.
class LargeCache {
 public:
  [[gnu::noinline]] void* allocate(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++requests_;
    while (!idle_.empty() && idle_.front().stamp + kLargeBlockStaleAfter < requests_) free_oldest();
    void* block = take(bytes);
    if (!block) {
      const size_t peak = std::max(peak_, live_ + bytes);
      while (!idle_.empty() && live_ + idle_bytes_ + bytes > peak) free_oldest();
      block = map_block(bytes);
      peak_ = peak;  // only once the block exists: a refused request leaves the peak as it was
    }
    live_ += bytes;
    return block;
  }

  [[gnu::noinline]] void deallocate(void* block, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ -= bytes;
    idle_.push_back({block, bytes, requests_});
    idle_bytes_ += bytes;
  }

  LargeBlockStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {live_, idle_bytes_, peak_};
  }

  void lock() { mutex_.lock(); }
  void unlock() { mutex_.unlock(); }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!idle_.empty()) free_oldest();
  }

 private:
  struct Idle {
    void* block;
    size_t bytes;
    size_t stamp;  // requests_ when it was freed
  };

  // The most recently freed idle block of exactly `bytes`, or null.
  void* take(size_t bytes) {
    for (size_t i = idle_.size(); i-- > 0;) {
      if (idle_[i].bytes != bytes) continue;
      void* block = idle_[i].block;
      idle_.erase(idle_.begin() + ptrdiff_t(i));
      idle_bytes_ -= bytes;
      return block;
    }
    return nullptr;
  }

  // `bytes` mapped from the kernel, starting on a 2 MiB boundary and marked for transparent huge
  // pages: each whole 2 MiB of the block then faults in as one page, and the products that
  // stream through it miss the TLB less. Mapped 2 MiB longer than asked, then trimmed to the
  // boundary. Where the kernel gives huge pages only on request ("madvise" in
  // /sys/kernel/mm/transparent_hugepage/enabled, as on the Debian 12 machine this was measured
  // on), this request is the only way a block gets them. Timings in docs/09.
  static void* map_block(size_t bytes) {
    constexpr size_t kHugePage = size_t(2) << 20;
    // The system's page, which kPage (the size classes' 4 KiB) need not be.
    static const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (bytes > SIZE_MAX - kHugePage) throw std::bad_alloc();
    const size_t mapped = bytes + kHugePage;
    void* raw = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto first = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t start = (first + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t end = start + (bytes + page - 1) / page * page;
    if (start > first) munmap(raw, start - first);
    munmap(reinterpret_cast<void*>(end), first + mapped - end);  // at least a page is left over
#if defined(MADV_HUGEPAGE)
    madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);  // Linux only
#endif
    return reinterpret_cast<void*>(start);
  }

  void free_oldest() {
    munmap(idle_.front().block, idle_.front().bytes);
    idle_bytes_ -= idle_.front().bytes;
    idle_.erase(idle_.begin());
  }

  std::mutex mutex_;
  std::vector<Idle> idle_;  // oldest first
  size_t idle_bytes_ = 0, live_ = 0, peak_ = 0, requests_ = 0;
};

// Never destroyed: a tensor freed during static destruction may still return its block. Its
// idle blocks go back to the system with the process. fork() happens with its lock held by the
// forking thread (pthread_atfork), so the child never inherits it locked by a thread it lacks.
LargeCache* large_cache() {
  static LargeCache* cache = [] {
    auto* made = new LargeCache;
    pthread_atfork([] { large_cache()->lock(); }, [] { large_cache()->unlock(); },
                   [] { large_cache()->unlock(); });
    return made;
  }();
  return cache;
}

size_t large_block_bytes(size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

// This thread's pool, or null where blocks bypass it: a thread past its pool's destruction,
// or an AddressSanitizer build (which must see every block freed to catch a use after free).
Pool* this_thread_pool() {
  if (!kPooling || pool_destroyed) return nullptr;
  thread_local Pool pool;
  return &pool;
}

}  // namespace

thread_local constinit SmallFreeLists small_free_lists{};

void* pool_allocate_slow(size_t bytes) {
  if (bytes > kLargest && kPooling) {
    return large_cache()->allocate(large_block_bytes(bytes));
  }
  if (!pooled_size(bytes)) return ::operator new(bytes, kBlockAlignment);
  const size_t c = size_class(bytes);
  Pool* pool = this_thread_pool();
  return pool ? pool->allocate(c) : ::operator new(class_bytes(c), kBlockAlignment);
}

void pool_deallocate_slow(void* block, size_t bytes) noexcept {
  if (!block) return;
  if (bytes > kLargest && kPooling) {
    large_cache()->deallocate(block, large_block_bytes(bytes));
    return;
  }
  Pool* pool = pooled_size(bytes) ? this_thread_pool() : nullptr;
  if (pool) {
    pool->deallocate(block, size_class(bytes));
  } else {
    ::operator delete(block, kBlockAlignment);
  }
}

LargeBlockStats large_block_stats() { return large_cache()->stats(); }

void release_idle_large_blocks() { large_cache()->release(); }

}  // namespace ember::detail
