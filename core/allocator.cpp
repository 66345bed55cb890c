#include <ember/core/allocator.h>

#include <array>
#include <utility>

namespace ember::detail {

namespace {

#if defined(__SANITIZE_ADDRESS__)  // GCC, and Clang since 11
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

constexpr size_t kGranule = 64;                       // size classes are multiples of this
constexpr size_t kLargest = 4096;                     // bigger blocks bypass the pool
constexpr size_t kClasses = kLargest / kGranule;      // 64 free lists
constexpr size_t kMaxCachedBytesPerClass = 64 << 10;  // at most 64 KiB idle per list

// Class c holds blocks of (c + 1) * kGranule bytes. Every block of at most kLargest bytes
// has its class's size, even one that bypassed the pool, since another thread may cache it.
size_t size_class(size_t bytes) { return (bytes + kGranule - 1) / kGranule - 1; }
size_t class_bytes(size_t c) { return (c + 1) * kGranule; }

// A free block stores the link to the next free block in its first bytes.
struct FreeBlock {
  FreeBlock* next;
};

struct FreeList {
  FreeBlock* head = nullptr;
  size_t count = 0;
};

// Set once this thread's pool is destroyed: a tensor freed late in thread exit (a static,
// say) must not touch it. Trivially destructible, so always readable.
thread_local bool pool_destroyed = false;

class Pool {
 public:
  ~Pool() {
    for (FreeList& list : lists_) {
      while (list.head) ::operator delete(std::exchange(list.head, list.head->next));
    }
    pool_destroyed = true;
  }

  void* allocate(size_t c) {
    FreeList& list = lists_[c];
    if (!list.head) return ::operator new(class_bytes(c));
    --list.count;
    return std::exchange(list.head, list.head->next);
  }

  void deallocate(void* block, size_t c) {
    FreeList& list = lists_[c];
    if (list.count * class_bytes(c) >= kMaxCachedBytesPerClass) {
      ::operator delete(block);
      return;
    }
    list.head = new (block) FreeBlock{list.head};
    ++list.count;
  }

 private:
  std::array<FreeList, kClasses> lists_{};
};

bool pooled_size(size_t bytes) { return bytes > 0 && bytes <= kLargest; }

// This thread's pool, or null where blocks bypass it: a thread past its pool's destruction,
// or an AddressSanitizer build (which must see every block freed to catch a use after free).
Pool* this_thread_pool() {
  if (kAddressSanitizer || pool_destroyed) return nullptr;
  thread_local Pool pool;
  return &pool;
}

}  // namespace

void* pool_allocate(size_t bytes) {
  if (!pooled_size(bytes)) return ::operator new(bytes);
  const size_t c = size_class(bytes);
  Pool* pool = this_thread_pool();
  return pool ? pool->allocate(c) : ::operator new(class_bytes(c));
}

void pool_deallocate(void* block, size_t bytes) noexcept {
  if (!block) return;
  Pool* pool = pooled_size(bytes) ? this_thread_pool() : nullptr;
  if (pool) {
    pool->deallocate(block, size_class(bytes));
  } else {
    ::operator delete(block);
  }
}

}  // namespace ember::detail
