// An in-process rwkv.v1.Rwkv server with scripted Generate replies and a small in-memory
// session table, listening on 127.0.0.1 at a port the OS picks. For client tests only: it
// implements the contract loosely (no model, byte "tokenizer", no validation beyond what the
// tests need).
//
//   FakeRwkvServer server;
//   server.service().QueueTurn({.deltas = {{" Hi", {1, 2}}}});
//   RwkvClient client(server.NewChannel());
#ifndef RWKV_TESTS_CLIENT_FAKE_RWKV_SERVER_H_
#define RWKV_TESTS_CLIENT_FAKE_RWKV_SERVER_H_

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "rwkv/v1/rwkv.grpc.pb.h"

namespace rwkv::client::testing {

// One scripted Generate call: the deltas to stream, then `status`; the done message is sent
// (before an OK status) when `send_done`.
struct FakeTurn {
  std::vector<std::pair<std::string, std::vector<int32_t>>> deltas = {{"a", {97}},
                                                                      {"bc", {98, 99}}};
  rwkv::v1::FinishReason finish_reason = rwkv::v1::FINISH_REASON_LENGTH;
  std::string matched_stop;
  grpc::Status status = grpc::Status::OK;
  bool send_done = true;
};

// A call as the server saw it: its method and every value of its `x-session-id` and
// `authorization` metadata.
struct RecordedCall {
  std::string method;
  std::vector<std::string> session_ids;
  std::vector<std::string> authorizations;
};

class FakeRwkvService final : public rwkv::v1::Rwkv::Service {
 public:
  // Turns are used in order; once they run out, every call gets the default turn.
  void QueueTurn(FakeTurn turn);
  void SetDefaultTurn(FakeTurn turn);
  std::vector<rwkv::v1::GenerateRequest> generate_requests() const;
  bool HasSession(const std::string& id) const;
  // Every call received, in arrival order.
  std::vector<RecordedCall> calls() const;

  grpc::Status Generate(grpc::ServerContext* context, const rwkv::v1::GenerateRequest* request,
                        grpc::ServerWriter<rwkv::v1::GenerateResponse>* writer) override;
  grpc::Status CreateSession(grpc::ServerContext* context,
                             const rwkv::v1::CreateSessionRequest* request,
                             rwkv::v1::Session* response) override;
  grpc::Status GetSession(grpc::ServerContext* context, const rwkv::v1::GetSessionRequest* request,
                          rwkv::v1::Session* response) override;
  grpc::Status ListSessions(grpc::ServerContext* context,
                            const rwkv::v1::ListSessionsRequest* request,
                            rwkv::v1::ListSessionsResponse* response) override;
  grpc::Status DeleteSession(grpc::ServerContext* context,
                             const rwkv::v1::DeleteSessionRequest* request,
                             rwkv::v1::DeleteSessionResponse* response) override;
  grpc::Status ForkSession(grpc::ServerContext* context,
                           const rwkv::v1::ForkSessionRequest* request,
                           rwkv::v1::Session* response) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const rwkv::v1::TokenizeRequest* request,
                        rwkv::v1::TokenizeResponse* response) override;
  grpc::Status Detokenize(grpc::ServerContext* context, const rwkv::v1::DetokenizeRequest* request,
                          rwkv::v1::DetokenizeResponse* response) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const rwkv::v1::GetModelInfoRequest* request,
                            rwkv::v1::ModelInfo* response) override;

 private:
  FakeTurn NextTurn() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Record(const grpc::ServerContext& context, const std::string& method)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Applies a finished turn to its session (creating it if asked); the session after the turn.
  grpc::Status CommitTurn(const rwkv::v1::GenerateRequest& request, int64_t tokens,
                          rwkv::v1::Session* session) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::deque<FakeTurn> turns_ ABSL_GUARDED_BY(mu_);
  FakeTurn default_turn_ ABSL_GUARDED_BY(mu_);
  std::vector<rwkv::v1::GenerateRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<RecordedCall> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, rwkv::v1::Session> sessions_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeRwkvServer {
 public:
  // Starts serving, with gRPC's default health service enabled (SERVING for "").
  FakeRwkvServer();
  ~FakeRwkvServer();

  FakeRwkvService& service() { return service_; }
  grpc::Server& server() { return *server_; }
  std::string address() const { return address_; }
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  FakeRwkvService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace rwkv::client::testing

#endif  // RWKV_TESTS_CLIENT_FAKE_RWKV_SERVER_H_
