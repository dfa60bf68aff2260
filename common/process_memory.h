// ProcessMemory: this process's resident memory now and at its peak, as the kernel counts them
// (VmRSS and VmHWM of /proc/self/status): what loading a model and serving cost in memory.
//
//   RWKV_ASSIGN_OR_RETURN(ProcessMemory memory, ReadProcessMemory());
//   LOG(INFO) << memory.rss_bytes / 1048576 << " MiB resident";
#ifndef RWKV_COMMON_PROCESS_MEMORY_H_
#define RWKV_COMMON_PROCESS_MEMORY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace rwkv {

struct ProcessMemory {
  int64_t rss_bytes = 0;       // resident now (VmRSS)
  int64_t peak_rss_bytes = 0;  // the most ever resident (VmHWM)
};

// UNAVAILABLE where /proc/self/status cannot be read or lacks the two fields (not Linux).
absl::StatusOr<ProcessMemory> ReadProcessMemory();

// The same from the text of a /proc/<pid>/status file; NOT_FOUND naming a missing field,
// INVALID_ARGUMENT for a malformed one.
absl::StatusOr<ProcessMemory> ParseProcessStatus(const std::string& status);

}  // namespace rwkv

#endif  // RWKV_COMMON_PROCESS_MEMORY_H_
