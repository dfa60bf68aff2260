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

}  // namespace rwkv::server::metrics
