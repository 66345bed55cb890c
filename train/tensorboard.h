#pragma once
// EventWriter: scalar summaries in TensorBoard's event-file format, written by ember itself
// (no TensorFlow, no protobuf library).

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

namespace ember::train {

/// CRC-32C (Castagnoli; reflected polynomial 0x82F63B78, initial value and final xor
/// 0xFFFFFFFF) of `bytes`, the checksum TFRecord framing uses. crc32c("123456789") is
/// 0xE3069283.
uint32_t crc32c(std::string_view bytes);

/// Writes one TensorBoard event file, `events.out.tfevents.<unix seconds>.<hostname>.<pid>.
/// <n>` in `log_dir` (n counts the writers this process has opened, so two writers never
/// share a file). `tensorboard --logdir <log_dir>` shows its scalars.
///
/// The file is a sequence of TFRecords, each holding one serialized `tensorflow.Event`; the
/// first carries file_version "brain.Event:2", each add_scalar one Summary value.
///
///   EventWriter events("runs/exp1");
///   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
///     events.add_scalar("loss/train", train_loss, epoch);
///     events.flush();
///   }
///
/// Records are buffered until flush(); destruction closes the file, writing what is left, so
/// a normal exit loses nothing. A failure there cannot be reported (destructors do not
/// throw): call flush() to see it.
class EventWriter {
 public:
  /// Creates `log_dir` (and its parents) when missing, opens a new event file in it and
  /// writes the file_version record. Throws Error naming the path when the directory cannot
  /// be created or the file cannot be opened or written.
  explicit EventWriter(const std::string& log_dir);

  /// Appends the scalar `value` for `tag` at `step`, stamped with the current wall time.
  /// TensorBoard stores scalars as float32, so `value` is rounded to float. Throws Error
  /// naming the file when the write fails.
  void add_scalar(const std::string& tag, double value, int64_t step);

  /// Writes buffered records to the operating system. Throws Error naming the file when
  /// that fails (a full disk, for one).
  void flush();

  /// The event file's full path.
  const std::string& path() const { return path_; }

 private:
  void write_record(std::string_view data);

  std::string path_;
  std::ofstream file_;
};

}  // namespace ember::train
