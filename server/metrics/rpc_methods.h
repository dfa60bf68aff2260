// The methods of rwkv.v1.Rwkv, read from its descriptor, so that the metrics of a new RPC exist
// without a change here; and the routes of the OpenAI-compatible HTTP API.
#ifndef RWKV_SERVER_METRICS_RPC_METHODS_H_
#define RWKV_SERVER_METRICS_RPC_METHODS_H_

#include <string>
#include <vector>

namespace rwkv::server::metrics {

// "Generate", "CreateSession", ... in the order of the .proto.
std::vector<std::string> RwkvMethodNames();

// The routes of the OpenAI-compatible HTTP API (server/http/openai_front_end.h), as its calls
// name themselves in the log and the metrics: "POST /v1/chat/completions", ...
std::vector<std::string> OpenAiRouteNames();

// Both: every `method` label of the request metrics.
std::vector<std::string> CountedMethodNames();

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_RPC_METHODS_H_
