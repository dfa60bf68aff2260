#include "tests/server/e2e/rpc_util.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "tests/util/engine_util.h"
#include "tests/util/shared_data.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {

std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address, bool small_window) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (small_window) {
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  }
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void Bound(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWaitLimit));
}

rwkv::v1::GenerateRequest GreedyRequest(const std::string& prompt, int max_tokens,
                                        const std::string& session) {
  rwkv::v1::GenerateRequest request;
  request.set_text(prompt);
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_stop()->set_max_tokens(max_tokens);
  request.mutable_stop()->set_ignore_end_of_text(true);
  if (!session.empty()) {
    request.set_session_id(session);
    request.set_create_session(true);
  }
  return request;
}

StreamResult Generate(rwkv::v1::Rwkv::Stub& stub, const rwkv::v1::GenerateRequest& request,
                      absl::Duration timeout) {
  StreamResult result;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  auto reader = stub.Generate(&context, request);
  rwkv::v1::GenerateResponse response;
  while (reader->Read(&response)) {
    ++result.messages;
    if (response.has_delta()) {
      result.text += response.delta().text();
      result.tokens.insert(result.tokens.end(), response.delta().token_ids().begin(),
                           response.delta().token_ids().end());
    } else if (response.has_done()) {
      result.has_done = true;
      result.done = response.done();
    }
  }
  result.status = reader->Finish();
  return result;
}

std::vector<int32_t> LocalGreedy(const std::string& model, const std::vector<int32_t>& prompt,
                                 int max_tokens, engine::Precision precision) {
  auto engine = engine::Engine::Create({model, 1, precision});
  if (!engine.ok()) return {};
  std::vector<float> state = (*engine)->InitialState();
  std::vector<int32_t> out;
  auto view = (*engine)->Forward({{absl::MakeSpan(state), prompt}});
  while (view.ok() && static_cast<int>(out.size()) < max_tokens) {
    const int32_t token = ArgMax(view->Row(0));
    out.push_back(token);
    view = (*engine)->Forward({{absl::MakeSpan(state), absl::MakeConstSpan(&token, 1)}});
  }
  return out;
}

std::vector<int32_t> Bytes(const std::string& text) {
  std::vector<int32_t> out;
  for (unsigned char c : text) out.push_back(c);
  return out;
}

std::string TinyModel() { return SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"); }
std::string OtherModel() { return SharedPath("models/tiny-rwkv-5v2-730K-FP32.bin"); }

grpc::Status GetSession(rwkv::v1::Rwkv::Stub& stub, const std::string& id,
                        rwkv::v1::Session* session) {
  grpc::ClientContext context;
  Bound(context);
  rwkv::v1::GetSessionRequest request;
  request.set_session_id(id);
  return stub.GetSession(&context, request, session);
}

StreamRest ReadRest(grpc::ClientReader<rwkv::v1::GenerateResponse>& reader) {
  StreamRest rest;
  rwkv::v1::GenerateResponse response;
  while (reader.Read(&response)) {
    if (response.has_delta()) rest.tokens += response.delta().token_ids_size();
    rest.done = rest.done || response.has_done();
  }
  rest.status = reader.Finish();
  return rest;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace rwkv::testing
