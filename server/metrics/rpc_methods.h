// The methods of rwkv.v1.Rwkv, read from its descriptor, so that the metrics of a new RPC exist
// without a change here.
#ifndef RWKV_SERVER_METRICS_RPC_METHODS_H_
#define RWKV_SERVER_METRICS_RPC_METHODS_H_

#include <string>
#include <vector>

namespace rwkv::server::metrics {

// "Generate", "CreateSession", ... in the order of the .proto.
std::vector<std::string> RwkvMethodNames();

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_RPC_METHODS_H_
