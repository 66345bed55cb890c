// Tensor creation, inspection and printing.

#include <catch2/catch.hpp>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <ember/core/allocator.h>
#include <ember/ember.h>

using namespace ember;
using Catch::Contains;

TEST_CASE("the README example: (t * 2 + 1).relu().sum() backprops 2 where positive", "[tensor]") {
  Tensor t = tensor({1.f, -2.f, 3.f, 4.f}, {2, 2}, true);
  Tensor y = (t * 2.f + 1.f).relu().sum();
  CHECK(y.item() == 3.f + 7.f + 9.f);
  y.backward();
  CHECK(t.grad().to_vector() == std::vector<float>{2.f, 0.f, 2.f, 2.f});
}

TEST_CASE("inspection: shape, dim, numel, size with negative dims", "[tensor]") {
  Tensor t = zeros({2, 3, 4});
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.dim() == 3);
  CHECK(t.numel() == 24);
  CHECK(t.size(0) == 2);
  CHECK(t.size(-1) == 4);
  CHECK(t.size(-3) == 2);
  CHECK_THROWS_WITH(t.size(3), Contains("size") && Contains("dim 3"));
  CHECK_THROWS_WITH(t.size(-4), Contains("[-3, 2]"));
}

TEST_CASE("a default-constructed tensor is undefined", "[tensor]") {
  Tensor t;
  CHECK_FALSE(t.defined());
  CHECK_THROWS_AS(t.shape(), Error);
  CHECK(t.to_string() == "tensor(undefined)");
}

TEST_CASE("copying a Tensor shares its data", "[tensor]") {
  Tensor a = zeros({2});
  Tensor b = a;
  b.fill_(7.f);
  CHECK(a.to_vector() == std::vector<float>{7.f, 7.f});
}

TEST_CASE("creation functions fill as documented", "[tensor]") {
  CHECK(ones({2}).to_vector() == std::vector<float>{1.f, 1.f});
  CHECK(full({3}, 0.5f).to_vector() == std::vector<float>{0.5f, 0.5f, 0.5f});
  CHECK(zeros_like(ones({2, 2})).shape() == Shape{2, 2});
  CHECK(ones_like(zeros({3}), true).requires_grad());
  CHECK(arange(5.f).to_vector() == std::vector<float>{0.f, 1.f, 2.f, 3.f, 4.f});
  CHECK(arange(1.f, 2.f, 0.25f).to_vector() == std::vector<float>{1.f, 1.25f, 1.5f, 1.75f});
  CHECK(arange(3.f, 0.f, -1.f).to_vector() == std::vector<float>{3.f, 2.f, 1.f});
  CHECK(eye(2).to_vector() == std::vector<float>{1.f, 0.f, 0.f, 1.f});
  CHECK(scalar_tensor(2.f).dim() == 0);
  CHECK(tensor({1.f, 2.f}).shape() == Shape{2});
  CHECK(zeros({0, 3}).numel() == 0);
}

TEST_CASE("creation errors name the function and the values", "[tensor][errors]") {
  CHECK_THROWS_WITH(tensor({1.f, 2.f, 3.f}, {2, 2}), Contains("tensor") && Contains("[2, 2]"));
  CHECK_THROWS_WITH(arange(0.f, 1.f, 0.f), Contains("arange") && Contains("step"));
  CHECK_THROWS_WITH(zeros({2, -1}), Contains("negative size") && Contains("[2, -1]"));
}

TEST_CASE("add_ and mul_ update every element, broadcast addends included", "[tensor]") {
  // Lengths around the vector widths and one long enough to be split across threads; small
  // integers and halves keep every product and sum exact.
  for (const int64_t n : {1, 15, 16, 17, 37, 300001}) {
    std::vector<float> a(n), b(n), expected(n);
    for (int64_t i = 0; i < n; ++i) {
      a[i] = float(i % 7) - 3.f, b[i] = float(i % 5);
      expected[i] = (a[i] - 0.5f * b[i]) * 4.f;
    }
    Tensor t = tensor(a, {n});
    t.add_(tensor(b, {n}), -0.5f).mul_(4.f);
    CHECK(t.to_vector() == expected);
  }
  Tensor rows = zeros({2, 3});
  rows.add_(tensor({1.f, 2.f, 3.f}, {3}), 2.f);
  CHECK(rows.to_vector() == std::vector<float>{2, 4, 6, 2, 4, 6});
}

TEST_CASE("item() needs exactly one element", "[tensor][errors]") {
  CHECK(full({1, 1}, 3.f).item() == 3.f);
  CHECK_THROWS_AS(zeros({2}).item(), Error);
  CHECK_THROWS_WITH(zeros({2, 3}).item(), Contains("item") && Contains("[2, 3]"));
}

TEST_CASE("manual_seed makes rand and randn reproducible", "[tensor][random]") {
  manual_seed(42);
  const std::vector<float> a = randn({100}).to_vector(), u = rand({100}).to_vector();
  manual_seed(42);
  CHECK(randn({100}).to_vector() == a);
  CHECK(rand({100}).to_vector() == u);
  manual_seed(43);
  CHECK(randn({100}).to_vector() != a);
}

TEST_CASE("randn has mean 0 and variance 1, rand lies between 0 and 1", "[tensor][random]") {
  manual_seed(0);
  Tensor n = randn({100000});
  // Standard errors: mean 1/sqrt(n) = 0.003, variance sqrt(2/n) = 0.0045; allow 5 of them.
  CHECK(std::fabs(n.mean().item()) < 0.016f);
  CHECK(std::fabs(n.var().item() - 1.f) < 0.023f);
  Tensor u = rand({100000});
  CHECK(max(u, 0).values.item() < 1.f);
  CHECK(min(u, 0).values.item() >= 0.f);
  CHECK(std::fabs(u.mean().item() - 0.5f) < 0.005f);
}

TEST_CASE("printing follows PyTorch's format", "[tensor][print]") {
  CHECK(tensor({1.f, 2.f, 3.f, 4.f}, {2, 2}).to_string() ==
        "tensor([[1., 2.],\n        [3., 4.]])");
  CHECK(tensor({1.5f, -2.25f}).to_string() == "tensor([ 1.5000, -2.2500])");
  CHECK(scalar_tensor(3.f).to_string() == "tensor(3.)");
  CHECK(tensor({1.f, 2.f}, true).to_string() == "tensor([1., 2.], requires_grad=True)");
  CHECK((tensor({1.f, 2.f}, true) * 2.f).to_string() == "tensor([2., 4.], grad_fn=<MulBackward0>)");
  CHECK(zeros({0}).to_string() == "tensor([], size=(0,))");
  CHECK(arange(8.f).reshape({2, 2, 2}).to_string() ==
        "tensor([[[0., 1.],\n         [2., 3.]],\n\n        [[4., 5.],\n         [6., 7.]]])");
  CHECK(tensor({1e-5f, 1.f}).to_string() == "tensor([1.0000e-05, 1.0000e+00])");
}

TEST_CASE("printing a large tensor summarises it", "[tensor][print]") {
  const std::string s = arange(2000.f).to_string();
  // As PyTorch, but on one line (ember does not wrap at 80 columns).
  CHECK(s ==
        "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03, "
        "1.9990e+03])");
  CHECK(arange(9.f).reshape({3, 3}).to_string() ==
        "tensor([[0., 1., 2.],\n        [3., 4., 5.],\n        [6., 7., 8.]])");
}

TEST_CASE("Shape behaves as a vector inline and past its inline capacity", "[tensor][shape]") {
  for (const size_t n : {size_t(3), Shape::kInline, Shape::kInline + 5}) {
    Shape s;
    for (size_t i = 0; i < n; ++i) s.push_back(int64_t(i) + 1);
    REQUIRE(s.size() == n);
    CHECK(s.back() == int64_t(n));
    CHECK(numel_of(s) == std::accumulate(s.begin(), s.end(), int64_t(1), std::multiplies<>()));

    Shape copy = s;
    CHECK(copy == s);
    copy[0] = 42;
    CHECK(s[0] == 1);  // a copy owns its values

    Shape moved = std::move(copy);
    CHECK(moved[0] == 42);
    CHECK(moved.size() == n);
    CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): documented state
    copy.push_back(7);    // still usable after the move
    CHECK(copy == Shape{7});

    moved.insert(moved.begin() + 1, -1);
    CHECK(moved[1] == -1);
    CHECK(moved.size() == n + 1);
    moved.erase(moved.begin() + 1);
    CHECK(moved.size() == n);
    CHECK(moved[1] == 2);

    const Shape tail(s.begin() + 1, s.end());
    Shape joined{s[0]};
    joined.insert(joined.end(), tail.begin(), tail.end());
    CHECK(joined == s);
    CHECK(std::vector<int64_t>(s) == std::vector<int64_t>(s.begin(), s.end()));
  }
  CHECK(Shape(3, 5) == Shape{5, 5, 5});
  CHECK(Shape{2, 3} != Shape{2, 3, 1});
  CHECK(to_string(Shape(std::vector<int64_t>{4, 5})) == "[4, 5]");
}

TEST_CASE("Shape copies between its inline buffer and a heap block keep exactly the values",
          "[tensor][shape]") {
  Shape on_heap(Shape::kInline + 3, 7);
  on_heap = Shape{1, 2};  // a short shape into a heap block
  CHECK(on_heap == Shape{1, 2});
  on_heap.resize(Shape::kInline + 1, 5);
  CHECK(on_heap == Shape{1, 2, 5, 5, 5, 5, 5});

  Shape shrunk(Shape::kInline + 3, 9);
  while (shrunk.size() > 2) shrunk.pop_back();  // two values left in a heap block
  Shape copy = shrunk;                          // copied into the inline buffer
  CHECK(copy == Shape{9, 9});
  copy.resize(4);  // the slots past the copied values read as new, not as the block's leftovers
  CHECK(copy == Shape{9, 9, 0, 0});
  Shape assigned{3};
  assigned = shrunk;
  CHECK(assigned == Shape{9, 9});
  const Shape taken = std::move(shrunk);  // takes the block itself
  CHECK(taken == Shape{9, 9});
  CHECK(shrunk.empty());  // NOLINT(bugprone-use-after-move): documented state
}

TEST_CASE("tensors of more dims than Shape keeps inline", "[tensor][shape]") {
  Shape shape(Shape::kInline + 2, 1);
  shape[0] = 2;
  shape.back() = 3;
  Tensor t = ones(shape, true);
  Tensor y = (t * t).sum({0, -1}, true);
  CHECK(y.shape() == Shape(Shape::kInline + 2, 1));
  y.sum().backward();
  CHECK(t.grad().shape() == shape);
  CHECK(t.grad().to_vector() == std::vector<float>(6, 2.f));
}

TEST_CASE("tensors made on one thread can be freed on another", "[tensor][allocator]") {
  const int64_t live_before = live_storage_count();
  std::vector<Tensor> made;
  std::thread maker([&] {
    // Sizes on both sides of the pool's limits: inline storage, small classes (to 4 KiB),
    // large classes (to 1 MiB), blocks that bypass the pool.
    for (int64_t n : {1, 16, 17, 100, 1024, 1025, 5000, 262144, 262145}) {
      for (int i = 0; i < 50; ++i) made.push_back(full({n}, float(n)));
    }
  });
  maker.join();  // the maker's pool is gone; its blocks now live in `made`
  std::thread freer([&] {
    for (const Tensor& t : made) CHECK(t.to_vector() == std::vector<float>(t.numel(), t.numel()));
    made.clear();
    // This thread's pool now holds the maker's blocks: new tensors reuse them intact.
    for (int64_t n : {17, 100, 1024, 1025, 5000, 262144})
      CHECK(sum(full({n}, 2.f)).item() == 2.f * n);
  });
  freer.join();
  CHECK(live_storage_count() == live_before);
}

TEST_CASE("small blocks come back from this thread's lists, at most 64 KiB idle per class",
          "[tensor][allocator]") {
  if (!detail::kPooling) {
    WARN("AddressSanitizer build: small blocks bypass the lists");
    return;
  }
  // On a thread of its own, so that its lists start empty and what it lists is freed at its end.
  std::thread([] {
    const detail::SmallFreeLists& lists = detail::small_free_lists;
    void* a = detail::pool_allocate(100);  // the class of 65 to 128 bytes, class 1
    detail::pool_deallocate(a, 100);
    CHECK(lists.active);
    CHECK(lists.count[1] == 1);
    CHECK(detail::pool_allocate(128) == a);  // the same class: the block listed last
    CHECK(lists.count[1] == 0);
    detail::pool_deallocate(a, 128);
    // 64 KiB of 128-byte blocks is 512: of 600 freed, 512 are listed, 88 go to the system.
    std::vector<void*> blocks(600);
    for (void*& block : blocks) block = detail::pool_allocate(128);
    for (void* block : blocks) detail::pool_deallocate(block, 128);
    CHECK(lists.count[1] == 512);
    // A 4 KiB block is the largest small class; 4097 bytes take a large one, listed elsewhere.
    detail::pool_deallocate(detail::pool_allocate(4096), 4096);
    CHECK(lists.count[63] == 1);
    detail::pool_deallocate(detail::pool_allocate(4097), 4097);
    CHECK(lists.count[63] == 1);
  }).join();
}

TEST_CASE("blocks above 1 MiB are reused, within the peak, until stale", "[tensor][allocator]") {
  if (!detail::kPooling) {
    WARN("AddressSanitizer build: large blocks bypass the cache");
    return;
  }
  using detail::large_block_stats;
  detail::release_idle_large_blocks();
  const detail::LargeBlockStats start = large_block_stats();
  REQUIRE(start.idle_bytes == 0);
  // Above anything live before, so this block sets a new peak: live + `big`.
  // A multiple of 4 pages, so that its half and quarter are whole pages too; at least 8 MiB.
  const size_t big = (start.peak_live_bytes / 16384 + 512) * 16384;
  void* a = detail::pool_allocate(big);
  CHECK(large_block_stats().peak_live_bytes == start.live_bytes + big);
  detail::pool_deallocate(a, big);
  CHECK(large_block_stats().idle_bytes == big);
  void* again = detail::pool_allocate(big - 100);  // rounds up to the same 4 KiB pages
  CHECK(again == a);
  CHECK(large_block_stats().idle_bytes == 0);
  detail::pool_deallocate(again, big - 100);
  // Another size finds no block; live + idle + it would pass the peak, so `a` is freed first.
  const size_t half = big / 2;
  void* c = detail::pool_allocate(half);
  CHECK(large_block_stats().idle_bytes == 0);
  CHECK(large_block_stats().live_bytes == start.live_bytes + half);
  detail::pool_deallocate(c, half);
  // A quarter fits beside the idle half: both stay, and the quarter is reused from then on...
  const size_t quarter = big / 4;
  for (size_t i = 0; i < detail::kLargeBlockStaleAfter; ++i)
    detail::pool_deallocate(detail::pool_allocate(quarter), quarter);
  CHECK(large_block_stats().idle_bytes == half + quarter);
  // ...until the half has waited through kLargeBlockStaleAfter requests: then it goes.
  detail::pool_deallocate(detail::pool_allocate(quarter), quarter);
  CHECK(large_block_stats().idle_bytes == quarter);
  // Tensors take the same blocks: a [big / 4] float tensor freed and made again reuses its own.
  detail::release_idle_large_blocks();
  CHECK(large_block_stats().idle_bytes == 0);
  const float* first = zeros({int64_t(big / 4)}).data();
  CHECK(large_block_stats().idle_bytes == big);
  CHECK(zeros({int64_t(big / 4)}).data() == first);
}

namespace {
// Resident pages of this process, from /proc/self/statm.
int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}
}  // namespace

TEST_CASE("a released large block leaves the process, whatever malloc's history",
          "[tensor][allocator]") {
  if (!detail::kPooling) {
    WARN("AddressSanitizer build: large blocks bypass the cache");
    return;
  }
  // glibc raises its mmap threshold to the size of a mapped chunk it frees, and blocks below
  // the threshold then come from its heap, where a freed one stays resident: 30 MiB first.
  // (volatile: a compiler may drop a malloc and free whose memory is never read.)
  void* volatile raise = std::malloc(30 << 20);
  std::memset(raise, 1, 30 << 20);
  std::free(raise);
  detail::release_idle_large_blocks();
  const int64_t before = resident_bytes();
  Tensor big = full({6 << 20}, 1.f);       // 24 MiB, every page written
  void* volatile pin = std::malloc(4096);  // a small block after it, as a program has
  CHECK(resident_bytes() - before >= (20 << 20));
  big = Tensor();
  detail::release_idle_large_blocks();
  CHECK(resident_bytes() - before < (4 << 20));
  std::free(pin);
}

TEST_CASE("a large block starts on a 2 MiB boundary, marked for huge pages",
          "[tensor][allocator]") {
  if (!detail::kPooling) {
    WARN("AddressSanitizer build: large blocks bypass the cache");
    return;
  }
  detail::release_idle_large_blocks();
  const Tensor big = full({5 << 18}, 1.f);  // 5 MiB: two whole huge pages and a part
  const auto start = reinterpret_cast<uintptr_t>(big.data());
  CHECK(start % (2 << 20) == 0);
  std::ifstream enabled("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(enabled, modes);
  if (modes.empty() || modes.find("[never]") != std::string::npos) {
    WARN("transparent huge pages are off here: nothing to mark");
    return;
  }
  // The mapping that holds the block, in /proc/self/smaps: a line "from-to perms ..." opens
  // each, and its VmFlags list "hg" when huge pages were asked for (madvise).
  std::ifstream smaps("/proc/self/smaps");
  std::string line, flags;
  bool inside = false;
  while (std::getline(smaps, line)) {
    uintptr_t from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR, &from, &to) == 2) {
      inside = from <= start && start < to;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      flags = line;
    }
  }
  INFO(flags);
  CHECK(flags.find(" hg") != std::string::npos);
}

TEST_CASE("a large block the system refuses throws bad_alloc and leaves the cache as it was",
          "[tensor][allocator]") {
  if (!detail::kPooling) {
    WARN("AddressSanitizer build: large blocks bypass the cache");
    return;
  }
  const detail::LargeBlockStats before = detail::large_block_stats();
  CHECK_THROWS_AS(detail::pool_allocate(size_t(1) << 46), std::bad_alloc);  // 64 TiB
  // So large that the 2 MiB margin a block is mapped with would wrap the size around.
  CHECK_THROWS_AS(detail::pool_allocate(SIZE_MAX - 4096), std::bad_alloc);
  const detail::LargeBlockStats after = detail::large_block_stats();
  CHECK(after.live_bytes == before.live_bytes);
  CHECK(after.peak_live_bytes == before.peak_live_bytes);
}

TEST_CASE("a child forked after large passes and large blocks runs them too", "[allocator]") {
  const int before = num_threads();
  set_num_threads(2);
  Tensor x = randn({3, 1 << 19});  // 6 MiB: a large block, and relu splits across threads
  const std::vector<float> expected = relu(x).to_vector();
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    alarm(60);  // a hang ends the child with SIGALRM, which the parent sees
    const bool same = relu(x).to_vector() == expected && relu(x).to_vector() == expected;
    _exit(same ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  set_num_threads(before);
}
