#include "server/metrics/rpc_methods.h"

#include "google/protobuf/descriptor.h"
#include "rwkv/v1/rwkv.pb.h"

namespace rwkv::server::metrics {

std::vector<std::string> RwkvMethodNames() {
  std::vector<std::string> names;
  const google::protobuf::ServiceDescriptor* service =
      rwkv::v1::GenerateRequest::descriptor()->file()->FindServiceByName("Rwkv");
  for (int i = 0; service != nullptr && i < service->method_count(); ++i) {
    names.push_back(service->method(i)->name());
  }
  return names;
}

std::vector<std::string> OpenAiRouteNames() {
  return {"POST /v1/chat/completions", "POST /v1/completions", "GET /v1/models"};
}

std::vector<std::string> CountedMethodNames() {
  std::vector<std::string> names = RwkvMethodNames();
  for (std::string& route : OpenAiRouteNames()) names.push_back(std::move(route));
  return names;
}

}  // namespace rwkv::server::metrics
