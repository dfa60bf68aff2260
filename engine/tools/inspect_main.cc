// rwkv-inspect: what a model file is, without loading it into the engine.
//
//   rwkv-inspect MODEL [--tensors] [--compare=OTHER] [--tokenizer=SPEC]
//
// Prints the format, the checkpoint family, the RWKV version and every dimension, the stored
// data types, the parameter count, the fingerprint sessions are tied to, and the tokenizer that
// programs would pick. --tensors lists the tensors exactly as the file stores them. --compare
// prints, per tensor, how far this model's weights (as the engine reads them) are from OTHER's:
// the error a quantized or half-precision file carries.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/absl_view.h"
#include "common/command_line.h"
#include "common/status_macros.h"
#include "engine/engine.h"
#include "engine/forward/model.h"
#include "engine/model/formats/rwkv_checkpoint.h"
#include "engine/model/formats/stored_tensors.h"
#include "engine/tokenizer/tokenizer_factory.h"

ABSL_FLAG(bool, tensors, false, "List every tensor as the file stores it.");
ABSL_FLAG(std::string, compare, "",
          "Another model file of the same model: print the per-tensor weight difference.");
ABSL_FLAG(std::string, tokenizer, "",
          "Tokenizer to check against the model: bytes, world, 20b or a path; empty = the one "
          "programs pick by default.");

namespace rwkv::engine {
namespace {

std::string Shape(const TensorInfo& info) {
  std::vector<int64_t> shape(info.ne.rbegin(), info.ne.rend());
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

// "BF16 x 339" style counts of the stored types.
std::string TypeCounts(const TensorSource& source) {
  std::map<std::string, int> counts;
  for (const TensorInfo& info : source.Tensors()) ++counts[std::string(GgmlTypeName(info.type))];
  std::vector<std::string> parts;
  for (const auto& [type, count] : counts) parts.push_back(absl::StrCat(type, " x ", count));
  return absl::StrJoin(parts, ", ");
}

// The tensors as stored: the container's, when the model was mapped from a checkpoint.
const TensorSource& StoredView(const ModelFile& model) {
  if (const auto* checkpoint = dynamic_cast<const RwkvCheckpoint*>(model.source.get())) {
    return checkpoint->stored();
  }
  return *model.source;
}

void PrintMetadata(const ModelFile& model) {
  const auto* checkpoint = dynamic_cast<const RwkvCheckpoint*>(model.source.get());
  if (checkpoint == nullptr) return;
  for (const auto& [key, value] : checkpoint->stored().metadata()) {
    std::cout << "  " << key << " = " << DescribeMetadataValue(value) << "\n";
  }
}

std::string TokenizerLine(const ModelFile& model, const ModelConfig& config) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      CreateTokenizer(absl::GetFlag(FLAGS_tokenizer), config.n_vocab, model.vocabulary);
  const std::string embedded =
      model.vocabulary.empty()
          ? ""
          : absl::StrCat(" (the file carries its own ", model.vocabulary.size(), "-token vocabulary)");
  if (!tokenizer.ok()) return absl::StrCat("none: ", tokenizer.status().message(), embedded);
  return absl::StrCat(AsAbsl((*tokenizer)->Name()), ", ", (*tokenizer)->VocabSize(), " tokens", embedded);
}

absl::Status Compare(const TensorSource& mine, const std::string& other_path) {
  RWKV_ASSIGN_OR_RETURN(ModelFile other, OpenModelSource(other_path));
  std::cout << "\nweights compared with " << other_path << " (max |difference| per tensor, as "
            << "the engine reads them):\n";
  std::cout << absl::StrFormat("  %-34s %-6s %-6s %12s %12s\n", "tensor", "here", "there",
                               "max|diff|", "max|w|");
  double worst = 0;
  for (const TensorInfo& info : mine.Tensors()) {
    const TensorInfo* theirs = other.source->Find(info.name);
    if (theirs == nullptr || theirs->NumElements() != info.NumElements()) {
      std::cout << absl::StrFormat("  %-34s missing or a different shape there\n", info.name);
      continue;
    }
    std::vector<float> a(info.NumElements()), b(info.NumElements());
    RWKV_RETURN_IF_ERROR(mine.ReadF32(info.name, absl::MakeSpan(a)));
    RWKV_RETURN_IF_ERROR(other.source->ReadF32(info.name, absl::MakeSpan(b)));
    double diff = 0, magnitude = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
      magnitude = std::max(magnitude, std::fabs(static_cast<double>(b[i])));
    }
    worst = std::max(worst, diff);
    std::cout << absl::StrFormat("  %-34s %-6s %-6s %12.3g %12.3g\n", info.name,
                                 GgmlTypeName(info.type), GgmlTypeName(theirs->type), diff,
                                 magnitude);
  }
  std::cout << absl::StrFormat("  largest difference: %.3g\n", worst);
  return absl::OkStatus();
}

absl::Status Run(const std::string& path) {
  RWKV_ASSIGN_OR_RETURN(ModelFile model, OpenModelSource(path));
  RWKV_ASSIGN_OR_RETURN(ModelConfig config, InferModelConfig(*model.source));
  const TensorSource& stored = StoredView(model);
  int64_t parameters = 0;
  for (const TensorInfo& info : model.source->Tensors()) parameters += info.NumElements();
  std::cout << "model:        " << path << "\n"
            << "format:       " << ModelFormatName(model.format) << ", " << model.family
            << " names\n"
            << "architecture: " << config.Summary() << "\n"
            << "parameters:   " << parameters << "\n"
            << "stored:       " << stored.Tensors().size() << " tensors, " << TypeCounts(stored)
            << "\n"
            << "as read:      " << model.source->Tensors().size() << " tensors, "
            << TypeCounts(*model.source) << "\n"
            << "state:        " << config.StateBytes() << " bytes per session\n"
            << "fingerprint:  " << ComputeFingerprint(*model.source, config) << "\n"
            << "tokenizer:    " << TokenizerLine(model, config) << "\n";
  if (!model.unused_tensors.empty()) {
    std::cout << "unused:       " << absl::StrJoin(model.unused_tensors, ", ") << "\n";
  }
  PrintMetadata(model);
  if (absl::GetFlag(FLAGS_tensors)) {
    std::cout << "\ntensors (as stored):\n";
    for (const TensorInfo& info : stored.Tensors()) {
      std::cout << absl::StrFormat("  %-44s %-5s %s\n", info.name, GgmlTypeName(info.type),
                                   Shape(info));
    }
  }
  if (!absl::GetFlag(FLAGS_compare).empty()) {
    RWKV_RETURN_IF_ERROR(Compare(*model.source, absl::GetFlag(FLAGS_compare)));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace rwkv::engine

int main(int argc, char** argv) {
  const std::vector<char*> args = rwkv::ParseCommandLine(
      argc, argv,
      "rwkv-inspect MODEL [--tensors] [--compare=OTHER]: format, version, dimensions, types, "
      "parameters, fingerprint and tokenizer of a model file (.bin, .pth, .safetensors, .gguf or "
      "a Hugging Face directory)");
  if (args.size() != 2) {
    std::cerr << "usage: rwkv-inspect MODEL [--tensors] [--compare=OTHER]\n";
    return 2;
  }
  const absl::Status status = rwkv::engine::Run(args[1]);
  if (!status.ok()) {
    std::cerr << "rwkv-inspect: " << status << "\n";
    return 1;
  }
  return 0;
}
