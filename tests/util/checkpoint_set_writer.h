// Writing one RWKV-7 model's weights in the checkpoint formats people download (rwkv.cpp .bin,
// PyTorch .pth with BlinkDL names, llama.cpp GGUF), for load tests and load benchmarks without
// PyTorch or llama.cpp. Files are written tensor by tensor, never held whole in memory.
//
//   RWKV_ASSIGN_OR_RETURN(auto model, engine::OpenModelSource("synthetic:rwkv7-0.1b"));
//   RWKV_ASSIGN_OR_RETURN(CheckpointSet set, WriteCheckpointSet(*model.source, "/tmp/out"));
//
// Every file holds the same weights rounded once to f16 (bf16 for model-bf16.pth): .bin tensors
// that rwkv.cpp keeps in F32 hold the f16-rounded values.
#ifndef RWKV_TESTS_UTIL_CHECKPOINT_SET_WRITER_H_
#define RWKV_TESTS_UTIL_CHECKPOINT_SET_WRITER_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/model/tensor_source.h"

namespace rwkv::testing {

// The paths WriteCheckpointSet wrote.
struct CheckpointSet {
  std::string bin_fp16;  // model-FP16.bin: rwkv.cpp FP16 (its rule for which tensors are F16)
  std::string pth_f16;   // model-f16.pth: torch.save layout, BlinkDL names, HalfStorage
  std::string pth_bf16;  // model-bf16.pth: the same with BFloat16Storage (as BlinkDL releases)
  std::string gguf_f16;  // model-F16.gguf: llama.cpp rwkv7 names and layout, matrices F16
};

// `source` must be an RWKV-7 model in rwkv.cpp's layout (SyntheticSource, a v7 .bin, or any
// checkpoint opened through RwkvCheckpoint). `dir` must exist. INVALID_ARGUMENT for another
// version; PERMISSION_DENIED naming the file when it cannot be written.
absl::StatusOr<CheckpointSet> WriteCheckpointSet(const engine::TensorSource& source,
                                                 const std::string& dir);

// The single formats, as WriteCheckpointSet writes them. `storage` is kF16 or kBF16.
absl::Status WriteRwkvCppFp16(const engine::TensorSource& source, const std::string& path);
// rwkv.cpp's FP32 file: every tensor F32 (holding the same f16-rounded values).
absl::Status WriteRwkvCppFp32(const engine::TensorSource& source, const std::string& path);
// Either of the two.
absl::Status WriteRwkvCpp(const engine::TensorSource& source, bool fp32, const std::string& path);
absl::Status WriteBlinkdlPth(const engine::TensorSource& source, engine::GgmlType storage,
                             const std::string& path);
absl::Status WriteGgufRwkv7(const engine::TensorSource& source, const std::string& path);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_CHECKPOINT_SET_WRITER_H_
