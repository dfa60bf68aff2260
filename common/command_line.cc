#include "common/command_line.h"

#include <cstring>
#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace rwkv {
namespace {

// "--max-tokens=5" -> "--max_tokens=5", in place (same length).
void UnderscoreFlagName(char* arg) {
  if (std::strncmp(arg, "--", 2) != 0) return;
  for (char* p = arg + 2; *p != '\0' && *p != '='; ++p) {
    if (*p == '-') *p = '_';
  }
}

// Flags of this project, wherever the program's sources define them; not Abseil's own.
bool IsProgramFlagFile(absl::string_view filename) {
  return !absl::StrContains(filename, "absl/");
}

}  // namespace

std::vector<char*> ParseCommandLine(int argc, char** argv, std::string_view usage) {
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = IsProgramFlagFile;
  config.contains_help_flags = IsProgramFlagFile;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(std::string(usage));
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) break;
    UnderscoreFlagName(argv[i]);
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace rwkv
