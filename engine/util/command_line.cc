#include "engine/util/command_line.h"

#include <cstring>
#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"

namespace rwkv {
namespace {

// "--max-tokens=5" -> "--max_tokens=5", in place (same length).
void UnderscoreFlagName(char* arg) {
  if (std::strncmp(arg, "--", 2) != 0) return;
  for (char* p = arg + 2; *p != '\0' && *p != '='; ++p) {
    if (*p == '-') *p = '_';
  }
}

}  // namespace

std::vector<char*> ParseCommandLine(int argc, char** argv, std::string_view usage) {
  absl::SetProgramUsageMessage(std::string(usage));
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) break;
    UnderscoreFlagName(argv[i]);
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace rwkv
