#pragma once
// safetensors I/O: the checkpoint format of the Hugging Face ecosystem, so files move between
// ember and PyTorch-side tools unchanged.
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON header, then the data.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (byte offsets into the data) and may hold "__metadata__", a map of strings to strings.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ember/core/tensor.h>

namespace ember {

/// What `load_safetensors` returns: the tensors in file order (by data offset) and the
/// header's "__metadata__" (empty if the file has none).
struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;

  /// The tensor called `name`. Throws Error if the file has none.
  Tensor at(const std::string& name) const;
  bool contains(const std::string& name) const;
};

/// Writes `named_tensors` as F32, in the given order, to `path`, with `metadata` as the
/// header's "__metadata__" (omitted when empty).
///
/// The write is atomic: the bytes go to a temporary file beside `path`
/// ("<path>.tmp.<pid>.<n>"), are flushed to disk, and only then renamed over `path`, so a
/// failed or interrupted save leaves any previous file untouched. A save first removes the
/// temporaries that earlier saves of the same `path` left when their process died (those
/// whose pid no longer exists); a live writer's are kept. Throws Error (before touching the
/// disk) for an empty, duplicate or "__metadata__" name, an undefined or non-CPU tensor, or
/// a name or metadata string that is not valid UTF-8; and for any I/O failure, naming the
/// path.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& named_tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// Reads a safetensors file. F32, F64, F16 and BF16 data are converted to float32 (F64 is
/// rounded to nearest; values beyond float range become +-inf). Integer data (I64, I32, I16,
/// I8, U8, BOOL: PyTorch's int64 num_batches_tracked, say) loads where float32 holds it
/// exactly, |value| <= 2^24 (BOOL: 0 or 1); another value throws Error naming the tensor,
/// the element and the value. Other dtypes throw Error.
///
/// The file is validated like the reference implementation, each failure an Error that
/// starts with "load_safetensors: " and names the path and the offending values: header
/// size (at least 8 bytes of file, N below 100,000,000, N + 8 within the file); header
/// valid UTF-8 JSON (numbers within double range), an object, nested at most 128 deep,
/// without duplicate keys; each entry holds "dtype" (string), "shape" (integers in
/// [0, 2^63)) and "data_offsets" (two non-negative integers, begin <= end), other keys are
/// ignored as the reference does; "__metadata__" is null or maps strings to strings; the
/// product of a shape's non-zero sizes fits int64, and times the dtype size 64 bits; sorted
/// by offset the tensors cover the data contiguously from 0, each exactly numel * dtype size
/// bytes; and the file ends exactly where the last tensor does. All of this is checked before
/// any tensor is allocated, so memory use is bounded by a small multiple of the file's size;
/// running out of memory all the same is an Error too. Quoted names and values are cut to
/// 200 bytes, so no message grows with the file. Empty tensor names are accepted here (the
/// format allows them) though saving refuses them.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace ember
