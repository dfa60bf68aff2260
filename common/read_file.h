// Reading a whole (small) file: vocabularies, tokenizer and config JSON, certificates.
#ifndef RWKV_COMMON_READ_FILE_H_
#define RWKV_COMMON_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace rwkv {

// The file's bytes. The errno status (NOT_FOUND for a missing file) naming the path when it
// cannot be opened or read.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace rwkv

#endif  // RWKV_COMMON_READ_FILE_H_
