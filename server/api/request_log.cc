#include "server/api/request_log.h"

#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace rwkv::server {
namespace {

std::string Timestamp() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
}

}  // namespace

void RequestLog::Log(const RequestRecord& r) {
  std::string line = absl::StrCat(Timestamp(), " ", r.method);
  if (!r.session.empty()) absl::StrAppend(&line, " session=", r.session);
  if (r.prompt_tokens >= 0) absl::StrAppend(&line, " prompt=", r.prompt_tokens);
  if (r.generated_tokens >= 0) absl::StrAppend(&line, " generated=", r.generated_tokens);
  absl::StrAppend(&line, " status=", absl::StatusCodeToString(r.status.code()),
                  absl::StrFormat(" ms=%.1f", absl::ToDoubleMilliseconds(r.duration)));
  if (!r.status.ok()) absl::StrAppend(&line, " error=\"", r.status.message(), "\"");
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  std::fputs(line.c_str(), stderr);
}

void RequestLog::Event(absl::string_view text) {
  const std::string line = absl::StrCat(Timestamp(), " ", text, "\n");
  absl::MutexLock lock(&mu_);
  std::fputs(line.c_str(), stderr);
}

}  // namespace rwkv::server
