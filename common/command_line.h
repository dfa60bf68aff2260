// Command-line parsing shared by every binary: Abseil flags, spelled with dashes or underscores,
// and a --help that lists the program's own flags.
//
//   int main(int argc, char** argv) {
//     std::vector<char*> positional = rwkv::ParseCommandLine(argc, argv, "usage text");
//
// Abseil names flags after C++ identifiers (--max_tokens); users and the issue tracker write
// --max-tokens. Both are accepted: dashes in a flag's name are turned into underscores before
// Abseil parses it (values are left alone, and nothing after a bare "--" is touched).
//
// Abseil's --help shows only flags defined in a file named after the program (so
// `rwkv-bench --help` said "No flags matched"); here --help and --helpshort list every flag that
// the program links in, except Abseil's own.
#ifndef RWKV_COMMON_COMMAND_LINE_H_
#define RWKV_COMMON_COMMAND_LINE_H_

#include <string_view>
#include <vector>

namespace rwkv {

// Returns the positional arguments (argv[0] first), as absl::ParseCommandLine does.
std::vector<char*> ParseCommandLine(int argc, char** argv, std::string_view usage);

}  // namespace rwkv

#endif  // RWKV_COMMON_COMMAND_LINE_H_
