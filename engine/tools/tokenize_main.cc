// rwkv-tokenize: print the token ids of a file's bytes, for scripts and checks.
//
//   rwkv-tokenize --tokenizer 20b --text-file prompt.txt     # [510, 3158, 8516]
//
// The ids go to stdout as one JSON array on one line; errors go to stderr with a non-zero exit.
#include <cstdint>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/command_line.h"
#include "common/status_macros.h"
#include "engine/tokenizer/tokenizer_factory.h"

ABSL_FLAG(std::string, tokenizer, "",
          "bytes | world | 20b | PATH of a tokenizer JSON (.json) or World vocabulary file.");
ABSL_FLAG(std::string, text_file, "", "The file whose bytes are tokenized.");

namespace rwkv::engine {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open --text-file ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read --text-file ", path));
  return contents.str();
}

absl::Status Run() {
  const std::string spec = absl::GetFlag(FLAGS_tokenizer);
  const std::string path = absl::GetFlag(FLAGS_text_file);
  if (spec.empty()) return absl::InvalidArgumentError("--tokenizer is required (see --help)");
  if (path.empty()) return absl::InvalidArgumentError("--text-file is required (see --help)");
  // No model here, so no vocabulary limit: any tokenizer's ids fit.
  RWKV_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer,
                        CreateTokenizer(spec, std::numeric_limits<int32_t>::max()));
  RWKV_ASSIGN_OR_RETURN(const std::string text, ReadFile(path));
  RWKV_ASSIGN_OR_RETURN(const std::vector<int32_t> ids, tokenizer->Encode(text));
  std::cout << "[" << absl::StrJoin(ids, ", ") << "]\n";
  return absl::OkStatus();
}

}  // namespace
}  // namespace rwkv::engine

int main(int argc, char** argv) {
  rwkv::ParseCommandLine(argc, argv,
                         "Prints the token ids of a file's bytes as one JSON array.\n"
                         "  rwkv-tokenize --tokenizer bytes|world|20b|PATH --text-file FILE");
  const absl::Status status = rwkv::engine::Run();
  if (!status.ok()) {
    std::cerr << "rwkv-tokenize: " << status << "\n";
    return 1;
  }
  return std::cout.good() ? 0 : 1;
}
