#include "engine/tokenizer/tokenizer_factory.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/byte_tokenizer.h"
#include "engine/tokenizer/world_tokenizer.h"

namespace rwkv::engine {
namespace {

constexpr int32_t k20bVocabSize = 50277;
constexpr char kWorldEnv[] = "RWKV_WORLD_VOCAB";
constexpr char k20bEnv[] = "RWKV_20B_TOKENIZER";

// Where a tokenizer file may live, in search order: explicit override, test data, the
// system-wide install, an install relative to the binary, and a source checkout.
std::vector<std::string> TokenizerFileCandidates(std::string_view file_name, const char* env_var) {
  std::vector<std::string> candidates;
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0') {
    candidates.push_back(env);
  }
  if (const char* env = std::getenv("RWKV_SHARED_DIR"); env != nullptr && *env != '\0') {
    candidates.push_back(absl::StrFormat("%s/tokenizers/%s", env, file_name));
  }
  candidates.push_back(absl::StrFormat("/usr/share/rwkv-serve/%s", file_name));
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (!error) {
    candidates.push_back((exe.parent_path() / ".." / "share" / "rwkv-serve" / file_name).string());
  }
  candidates.push_back(absl::StrFormat("../shared/tokenizers/%s", file_name));
  return candidates;
}

bool IsRegularFile(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);
}

// The path of a named tokenizer's file, or NOT_FOUND listing the places tried.
absl::StatusOr<std::string> FindOrExplain(std::string_view file_name, const char* env_var) {
  const std::string path = FindTokenizerFile(file_name, env_var);
  if (!path.empty()) return path;
  return absl::NotFoundError(absl::StrFormat(
      "tokenizer file %s not found; tried: %s. Set %s or pass --tokenizer PATH", file_name,
      absl::StrJoin(TokenizerFileCandidates(file_name, env_var), ", "), env_var));
}

// A tokenizer file: `tokenizers` JSON by its extension, else a World vocabulary.
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFile(const std::string& path) {
  if (absl::EndsWith(path, ".json")) {
    RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> bpe, BpeTokenizer::Load(path));
    return bpe;
  }
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> world, WorldTokenizer::Load(path));
  return world;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> CreateByName(std::string_view spec) {
  if (spec == "bytes") return std::make_unique<ByteTokenizer>();
  if (spec == "world") {
    RWKV_ASSIGN_OR_RETURN(const std::string path, FindOrExplain(kWorldVocabFileName, kWorldEnv));
    return LoadFile(path);
  }
  if (spec == "20b") {
    RWKV_ASSIGN_OR_RETURN(const std::string path, FindOrExplain(k20bTokenizerFileName, k20bEnv));
    return LoadFile(path);
  }
  const std::string path(spec);
  if (!IsRegularFile(path)) {
    return absl::NotFoundError(
        absl::StrFormat("unknown tokenizer '%s': expected 'bytes', 'world', '20b' or the path of "
                        "a tokenizer JSON or World-format vocabulary file (no such file)",
                        spec));
  }
  return LoadFile(path);
}

bool IsByteVocabulary(absl::Span<const std::string> vocab) {
  if (vocab.size() != 256) return false;
  for (size_t i = 0; i < vocab.size(); ++i) {
    if (vocab[i].size() != 1 || static_cast<uint8_t>(vocab[i][0]) != i) return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> CreateFromEmbedded(absl::Span<const std::string> vocab) {
  if (IsByteVocabulary(vocab)) return std::make_unique<ByteTokenizer>();
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> world,
                        WorldTokenizer::FromTokens(vocab, "the model's embedded vocabulary"));
  return world;
}

absl::StatusOr<std::string_view> AutoName(int32_t model_vocab_size) {
  if (model_vocab_size == ByteTokenizer::kVocabSize) return "bytes";
  if (model_vocab_size == WorldTokenizer::kVocabSize) return "world";
  if (model_vocab_size == k20bVocabSize) return "20b";
  return absl::InvalidArgumentError(
      absl::StrCat("no tokenizer is known for vocabulary size ", model_vocab_size,
                   "; pass --tokenizer PATH to a tokenizer JSON or World-format vocabulary file"));
}

}  // namespace

std::string FindTokenizerFile(std::string_view file_name, const char* env_var) {
  for (const std::string& candidate : TokenizerFileCandidates(file_name, env_var)) {
    if (IsRegularFile(candidate)) return candidate;
  }
  return "";
}

std::string FindWorldVocab() { return FindTokenizerFile(kWorldVocabFileName, kWorldEnv); }

std::string Find20bTokenizer() { return FindTokenizerFile(k20bTokenizerFileName, k20bEnv); }

absl::StatusOr<std::unique_ptr<Tokenizer>> CreateTokenizer(
    std::string_view spec, int32_t model_vocab_size, absl::Span<const std::string> embedded_vocab) {
  if (model_vocab_size <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("model vocabulary size must be positive, got ", model_vocab_size));
  }
  std::unique_ptr<Tokenizer> tokenizer;
  if (spec.empty() && !embedded_vocab.empty()) {
    RWKV_ASSIGN_OR_RETURN(tokenizer, CreateFromEmbedded(embedded_vocab));
  } else {
    if (spec.empty()) {
      RWKV_ASSIGN_OR_RETURN(spec, AutoName(model_vocab_size));
    }
    RWKV_ASSIGN_OR_RETURN(tokenizer, CreateByName(spec));
  }
  if (tokenizer->VocabSize() > model_vocab_size) {
    return absl::FailedPreconditionError(
        absl::StrFormat("tokenizer '%s' has %d ids but the model's vocabulary has only %d",
                        tokenizer->Name(), tokenizer->VocabSize(), model_vocab_size));
  }
  return tokenizer;
}

}  // namespace rwkv::engine
