// rwkv-write-checkpoints: one RWKV-7 model written as the files people download (rwkv.cpp .bin,
// BlinkDL .pth in f16 and bf16, llama.cpp GGUF), for load tests and scripts/bench-load.sh.
// A test tool: not installed, not in the image.
//
//   rwkv-write-checkpoints --model synthetic:rwkv7-0.1b --out /tmp/ckpt
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "tests/util/checkpoint_set_writer.h"

ABSL_FLAG(std::string, model, "synthetic:rwkv7-0.1b",
          "The RWKV-7 model to write: synthetic:<shape> or a model file in any format.");
ABSL_FLAG(std::string, out, "", "Directory to write into (created if missing).");
ABSL_FLAG(bool, fp32_bin, false, "Also write model-FP32.bin (rwkv.cpp FP32, twice the size).");

namespace rwkv::testing {
namespace {

absl::Status Run() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out is required");
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create ", out, ": ", error.message()));
  }
  RWKV_ASSIGN_OR_RETURN(engine::ModelFile model,
                        engine::OpenModelSource(absl::GetFlag(FLAGS_model)));
  RWKV_ASSIGN_OR_RETURN(CheckpointSet set, WriteCheckpointSet(*model.source, out));
  for (const std::string& path : {set.bin_fp16, set.pth_f16, set.pth_bf16, set.gguf_f16}) {
    std::cout << path << "\n";
  }
  if (absl::GetFlag(FLAGS_fp32_bin)) {
    const std::string fp32 = out + "/model-FP32.bin";
    RWKV_RETURN_IF_ERROR(WriteRwkvCppFp32(*model.source, fp32));
    std::cout << fp32 << "\n";
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace rwkv::testing

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "Writes an RWKV-7 model as .bin, .pth (f16, bf16) and GGUF.\n"
                         "  rwkv-write-checkpoints --model synthetic:rwkv7-0.1b --out DIR");
  const absl::Status status = rwkv::testing::Run();
  if (!status.ok()) {
    std::cerr << "rwkv-write-checkpoints: " << status << "\n";
    return 1;
  }
  return 0;
}
