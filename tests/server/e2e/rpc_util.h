// Calling the real server from tests, and computing what it should answer with the engine
// in-process.
#ifndef RWKV_TESTS_SERVER_E2E_RPC_UTIL_H_
#define RWKV_TESTS_SERVER_E2E_RPC_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/compute/precision.h"
#include "rwkv/v1/rwkv.grpc.pb.h"

namespace rwkv::testing {

struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> tokens;
  std::string text;
  int messages = 0;
  bool has_done = false;
  rwkv::v1::GenerateResponse::Done done;
};

// A channel of its own (not shared with other channels to the same address). `small_window`:
// the client takes little unread data (no window growth), so that a stream nobody reads fills
// up after a few hundred tokens instead of megabytes.
std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address, bool small_window = false);

// Gives a call the tests' hang guard (kWaitLimit) as its deadline, so that a server that stops
// answering fails the test instead of hanging it.
void Bound(grpc::ClientContext& context);

// A greedy request: prompt text, at most `max_tokens`, end-of-text ignored.
rwkv::v1::GenerateRequest GreedyRequest(const std::string& prompt, int max_tokens,
                                        const std::string& session = "");

// Runs a Generate to the end.
StreamResult Generate(rwkv::v1::Rwkv::Stub& stub, const rwkv::v1::GenerateRequest& request,
                      absl::Duration timeout = absl::Seconds(120));

// Greedy continuation of byte-level `prompt` with the engine in this process: the reference a
// server's greedy stream must equal.
std::vector<int32_t> LocalGreedy(const std::string& model, const std::vector<int32_t>& prompt,
                                 int max_tokens,
                                 engine::Precision precision = engine::Precision::kF32);

std::vector<int32_t> Bytes(const std::string& text);

// The tiny RWKV-7 model and another model (for fingerprint mismatches).
// GetSession with the hang guard as its deadline.
grpc::Status GetSession(rwkv::v1::Rwkv::Stub& stub, const std::string& id,
                        rwkv::v1::Session* session);

// What the rest of a Generate stream brought: its tokens, whether its Done came, its status.
struct StreamRest {
  int tokens = 0;
  bool done = false;
  grpc::Status status;
};
// Reads `reader` to its end.
StreamRest ReadRest(grpc::ClientReader<rwkv::v1::GenerateResponse>& reader);

// `a` followed by `b`.
std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b);

std::string TinyModel();
std::string OtherModel();

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_SERVER_E2E_RPC_UTIL_H_
