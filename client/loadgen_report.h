// Renders a LoadgenReport as the human-readable table rwkv-loadgen prints and as JSON.
//
//   std::cout << FormatLoadgenTable(report, options, "127.0.0.1:50051");
//   file << FormatLoadgenJson(report, options, "127.0.0.1:50051");
//
// The table shows latencies in milliseconds; the JSON keeps base units (seconds) and every
// number of the table, plus the options that shaped the run.
#ifndef RWKV_CLIENT_LOADGEN_REPORT_H_
#define RWKV_CLIENT_LOADGEN_REPORT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "client/loadgen.h"

namespace rwkv::client {

std::string FormatLoadgenTable(const LoadgenReport& report, const LoadgenOptions& options,
                               absl::string_view server);

std::string FormatLoadgenJson(const LoadgenReport& report, const LoadgenOptions& options,
                              absl::string_view server);

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_LOADGEN_REPORT_H_
