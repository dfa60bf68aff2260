#include "server/api/request_id.h"

#include "absl/random/random.h"
#include "absl/strings/str_format.h"

namespace rwkv::server {
namespace {

constexpr size_t kMaxRequestIdChars = 64;
constexpr absl::string_view kRequestIdChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";

}  // namespace

bool IsValidRequestId(absl::string_view id) {
  return !id.empty() && id.size() <= kMaxRequestIdChars &&
         id.find_first_not_of(kRequestIdChars) == absl::string_view::npos;
}

std::string NewRequestId() {
  // One generator per thread: IDs are made on gRPC and I/O threads at once, without a lock.
  thread_local absl::BitGen bitgen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(bitgen));
}

std::string AttachRequestId(grpc::CallbackServerContext* context) {
  std::string id;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find(kRequestIdKey); it != metadata.end()) {
    const absl::string_view sent(it->second.data(), it->second.size());
    if (IsValidRequestId(sent)) id = std::string(sent);
  }
  if (id.empty()) id = NewRequestId();
  context->AddInitialMetadata(kRequestIdKey, id);
  return id;
}

}  // namespace rwkv::server
