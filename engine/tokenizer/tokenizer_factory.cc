#include "engine/tokenizer/tokenizer_factory.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/world_tokenizer.h"
#include "common/status_macros.h"

namespace rwkv::engine {
namespace {

// Where a World vocabulary may live, in search order: explicit override, test data, the
// system-wide install, an install relative to the binary, and a source checkout.
std::vector<std::string> WorldVocabCandidates() {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("RWKV_WORLD_VOCAB"); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  }
  if (const char* env = std::getenv("RWKV_SHARED_DIR"); env != nullptr && *env != '\0') {
    candidates.push_back(absl::StrFormat("%s/tokenizers/%s", env, kWorldVocabFileName));
  }
  candidates.push_back(absl::StrFormat("/usr/share/rwkv-serve/%s", kWorldVocabFileName));
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    candidates.push_back(
        (exe.parent_path() / ".." / "share" / "rwkv-serve" / kWorldVocabFileName).string());
  }
  candidates.push_back(absl::StrFormat("../shared/tokenizers/%s", kWorldVocabFileName));
  return candidates;
}

bool IsRegularFile(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> CreateByName(std::string_view spec) {
  if (spec == "bytes") return std::make_unique<ByteTokenizer>();
  if (spec == "world") {
    const std::string path = FindWorldVocab();
    if (path.empty()) {
      return absl::NotFoundError(
          absl::StrFormat("World vocabulary %s not found; tried: %s. Set RWKV_WORLD_VOCAB or pass "
                          "--tokenizer PATH",
                          kWorldVocabFileName, absl::StrJoin(WorldVocabCandidates(), ", ")));
    }
    RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> world, WorldTokenizer::Load(path));
    return world;
  }
  const std::string path(spec);
  if (!IsRegularFile(path)) {
    return absl::NotFoundError(
        absl::StrFormat("unknown tokenizer '%s': expected 'bytes', 'world' or the path of a "
                        "World-format vocabulary file (no such file)",
                        spec));
  }
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> custom, WorldTokenizer::Load(path));
  return custom;
}

}  // namespace

std::string FindWorldVocab() {
  for (const std::string& candidate : WorldVocabCandidates()) {
    if (IsRegularFile(candidate)) return candidate;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<Tokenizer>> CreateTokenizer(std::string_view spec,
                                                           int32_t model_vocab_size) {
  if (model_vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model vocabulary size must be positive, got ", model_vocab_size));
  }
  if (spec.empty()) {
    if (model_vocab_size == ByteTokenizer::kVocabSize) {
      spec = "bytes";
    } else if (model_vocab_size == WorldTokenizer::kVocabSize) {
      spec = "world";
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("no tokenizer is known for vocabulary size ", model_vocab_size,
                       "; pass --tokenizer PATH to a World-format vocabulary file"));
    }
  }
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, CreateByName(spec));
  if (tokenizer->VocabSize() > model_vocab_size) {
    return absl::FailedPreconditionError(
        absl::StrFormat("tokenizer '%s' has %d ids but the model's vocabulary has only %d",
                        tokenizer->Name(), tokenizer->VocabSize(), model_vocab_size));
  }
  return tokenizer;
}

}  // namespace rwkv::engine
