// Running a shell command from a test and collecting what it prints.
#ifndef RWKV_TESTS_UTIL_RUN_COMMAND_H_
#define RWKV_TESTS_UTIL_RUN_COMMAND_H_

#include <string>

namespace rwkv::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when the command could not start or did not exit normally
  std::string output;  // its stdout (append "2>&1" to the command for stderr too)
};

// Runs `command` with /bin/sh and waits for it.
CommandResult RunCommand(const std::string& command);

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_RUN_COMMAND_H_
