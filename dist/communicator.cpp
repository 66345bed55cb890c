#include <ember/core/ops.h>
#include <ember/dist/communicator.h>
#include <ember/dist/sampler.h>
#include <ember/error.h>

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ember::dist {

struct Communicator::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
};

namespace {

// MPI counts are ints: longer buffers travel in pieces of at most this many elements.
constexpr int64_t kMaxCount = int64_t{1} << 30;

template <class T>
void all_reduce_in_pieces(const Communicator& communicator, MPI_Comm comm, std::span<T> values,
                          MPI_Datatype type) {
  for (size_t offset = 0; offset < values.size(); offset += kMaxCount) {
    const auto count = static_cast<int>(std::min<size_t>(kMaxCount, values.size() - offset));
    communicator.check(
        MPI_Allreduce(MPI_IN_PLACE, values.data() + offset, count, type, MPI_SUM, comm),
        "MPI_Allreduce");
  }
}

}  // namespace

bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

Communicator::Communicator(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {
  check(MPI_Comm_rank(handle_->comm, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(handle_->comm, &size_), "MPI_Comm_size");
}

Communicator::~Communicator() {
  if (handle_->comm != MPI_COMM_NULL) MPI_Comm_free(&handle_->comm);
}

void Communicator::check(int code, const std::string& call) const {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  const std::string reason = MPI_Error_string(code, text, &length) == MPI_SUCCESS
                                 ? std::string(text, static_cast<size_t>(length))
                                 : "error code " + std::to_string(code);
  throw Error("dist: " + call + " failed on rank " + std::to_string(rank_) + " of " +
              std::to_string(size_) + ": " + reason);
}

void Communicator::all_reduce_sum(std::span<float> values) {
  all_reduce_in_pieces(*this, handle_->comm, values, MPI_FLOAT);
}

void Communicator::all_reduce_mean(std::span<float> values) {
  all_reduce_sum(values);
  const auto processes = static_cast<float>(size_);
  for (float& value : values) value /= processes;
}

void Communicator::all_reduce_sum(std::span<double> values) {
  all_reduce_in_pieces(*this, handle_->comm, values, MPI_DOUBLE);
}

void Communicator::broadcast(std::vector<std::byte>& bytes) {
  uint64_t length = bytes.size();
  check(MPI_Bcast(&length, 1, MPI_UINT64_T, 0, handle_->comm), "MPI_Bcast");
  bytes.resize(length);
  for (uint64_t offset = 0; offset < length; offset += kMaxCount) {
    const auto count = static_cast<int>(std::min<uint64_t>(kMaxCount, length - offset));
    check(MPI_Bcast(bytes.data() + offset, count, MPI_BYTE, 0, handle_->comm), "MPI_Bcast");
  }
}

// Every process learns every length first (MPI_Allgather), so that all of them refuse a gather
// that would not fit in MPI's int counts, instead of rank 0 alone while the others wait.
std::vector<std::vector<std::byte>> Communicator::gather(const std::vector<std::byte>& bytes) {
  const uint64_t length = bytes.size();
  std::vector<uint64_t> lengths(static_cast<size_t>(size_));
  check(MPI_Allgather(&length, 1, MPI_UINT64_T, lengths.data(), 1, MPI_UINT64_T, handle_->comm),
        "MPI_Allgather");
  uint64_t total = 0;
  for (const uint64_t each : lengths) total += each;
  if (total > INT_MAX) {
    throw Error("dist: gather of " + std::to_string(total) + " bytes on rank " +
                std::to_string(rank_) + " of " + std::to_string(size_) +
                ": MPI_Gatherv takes at most 2^31 - 1 bytes in all");
  }
  std::vector<int> counts, offsets;
  std::vector<std::byte> all;
  if (rank_ == 0) {
    int offset = 0;
    for (const uint64_t each : lengths) {
      counts.push_back(static_cast<int>(each));
      offsets.push_back(offset);
      offset += static_cast<int>(each);
    }
    all.resize(total);
  }
  check(MPI_Gatherv(bytes.data(), static_cast<int>(length), MPI_BYTE, all.data(), counts.data(),
                    offsets.data(), MPI_BYTE, 0, handle_->comm),
        "MPI_Gatherv");
  std::vector<std::vector<std::byte>> parts;
  if (rank_ != 0) return parts;
  for (int r = 0; r < size_; ++r) {
    const auto first = all.begin() + offsets[static_cast<size_t>(r)];
    parts.emplace_back(first, first + counts[static_cast<size_t>(r)]);
  }
  return parts;
}

void Communicator::barrier() { check(MPI_Barrier(handle_->comm), "MPI_Barrier"); }

void Communicator::set_bucket_bytes(int64_t bytes) {
  if (bytes < 0) {
    throw Error("Communicator::set_bucket_bytes: bytes must be >= 0, got " + std::to_string(bytes));
  }
  bucket_bytes_ = bytes;
}

// Buckets are runs of consecutive parameters holding at most bucket_bytes_ of gradients (or
// one larger parameter). DDP starts each bucket's all-reduce while backward is still running;
// ember's backward has no per-parameter hooks, so here the buckets go one after another once
// backward is done, and bucketing saves only per-message latency. The last
// bucket also carries one flag per parameter, 1 where this process has a gradient, so that a
// parameter no process reached keeps an undefined gradient.
void Communicator::reduce_gradients(const std::vector<Tensor>& parameters, double weight) {
  if (size_ == 1 && weight == 1.0) return;  // the sum of one unweighted gradient is itself
  const auto scale = static_cast<float>(weight);
  std::vector<Tensor> sums(parameters.size());
  std::vector<float> flags(parameters.size(), 0.f);
  std::vector<float> buffer;
  size_t first = 0;
  while (first < parameters.size()) {
    size_t last = first;
    int64_t bytes = 0;
    do {
      bytes += parameters[last].numel() * int64_t{sizeof(float)};
      ++last;
    } while (last < parameters.size() &&
             bytes + parameters[last].numel() * int64_t{sizeof(float)} <= bucket_bytes_);
    const bool final_bucket = last == parameters.size();
    buffer.resize(static_cast<size_t>(bytes) / sizeof(float) + (final_bucket ? flags.size() : 0));
    float* out = buffer.data();
    for (size_t i = first; i < last; ++i) {
      const Tensor grad = parameters[i].grad();
      const int64_t count = parameters[i].numel();
      if (grad.defined()) {
        flags[i] = 1.f;
        const float* values = grad.data();
        for (int64_t j = 0; j < count; ++j) out[j] = scale * values[j];
      } else {
        std::fill(out, out + count, 0.f);
      }
      out += count;
    }
    if (final_bucket) std::copy(flags.begin(), flags.end(), out);
    all_reduce_sum(std::span<float>(buffer));
    const float* next = buffer.data();
    for (size_t i = first; i < last; ++i) {
      sums[i] = empty(parameters[i].shape());
      std::memcpy(sums[i].data(), next, static_cast<size_t>(parameters[i].numel()) * sizeof(float));
      next += parameters[i].numel();
    }
    if (final_bucket) std::copy(next, next + flags.size(), flags.begin());
    first = last;
  }
  for (size_t i = 0; i < parameters.size(); ++i)
    parameters[i].set_grad(flags[i] > 0 ? sums[i] : Tensor());
}

std::vector<train::BatchShard> Communicator::epoch(int64_t rows, int64_t batch_size, bool shuffle,
                                                   uint64_t seed) const {
  return DistributedSampler(rows, batch_size, shuffle, rank_, size_).epoch(seed);
}

void Communicator::abort_job(const std::string& message) const {
  std::fprintf(stderr, "ember: rank %d of %d: %s\n", rank_, size_, message.c_str());
  std::fflush(stderr);
  MPI_Abort(handle_->comm, 1);
  std::_Exit(1);  // MPI_Abort does not return; this is for an MPI that would
}

Environment::Environment(int& argc, char**& argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    throw Error("dist::Environment: MPI is already initialised (one Environment per program)");
  }
  int provided = 0;
  const int code = MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  if (code != MPI_SUCCESS) {
    throw Error("dist::Environment: MPI_Init_thread failed with code " + std::to_string(code));
  }
  auto handle = std::make_unique<Communicator::Handle>();
  MPI_Comm_dup(MPI_COMM_WORLD, &handle->comm);
  MPI_Comm_set_errhandler(handle->comm, MPI_ERRORS_RETURN);
  world_.reset(new Communicator(std::move(handle)));
}

Environment::~Environment() {
  world_.reset();  // MPI_Comm_free must come before MPI_Finalize
  MPI_Finalize();
}

}  // namespace ember::dist
