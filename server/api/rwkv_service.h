// RwkvService: the rwkv.v1.Rwkv gRPC service. Handlers stay thin: authenticate the caller (every
// method, before anything else: Run here, the GenerateReactor's constructor for the stream),
// check readiness, hand blocking
// work to the I/O pool (validation is the session manager's, ParseGenerateRequest's for Generate;
// Tokenize and Detokenize check their sizes against request_limits.h), convert the status in one
// place (status_util.h), log one line per request (the log shortens an ID that is not valid).
#ifndef RWKV_SERVER_API_RWKV_SERVICE_H_
#define RWKV_SERVER_API_RWKV_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "rwkv/v1/rwkv.grpc.pb.h"
#include "server/api/service_context.h"

namespace rwkv::server {

class RwkvService final : public rwkv::v1::Rwkv::CallbackService {
 public:
  explicit RwkvService(ServiceContext& context) : context_(context) {}

  grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const rwkv::v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* context,
                                          const rwkv::v1::CreateSessionRequest* request,
                                          rwkv::v1::Session* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const rwkv::v1::GetSessionRequest* request,
                                       rwkv::v1::Session* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* context,
                                         const rwkv::v1::ListSessionsRequest* request,
                                         rwkv::v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* context,
                                          const rwkv::v1::DeleteSessionRequest* request,
                                          rwkv::v1::DeleteSessionResponse* response) override;
  grpc::ServerUnaryReactor* ForkSession(grpc::CallbackServerContext* context,
                                        const rwkv::v1::ForkSessionRequest* request,
                                        rwkv::v1::Session* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const rwkv::v1::TokenizeRequest* request,
                                     rwkv::v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const rwkv::v1::DetokenizeRequest* request,
                                       rwkv::v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const rwkv::v1::GetModelInfoRequest* request,
                                         rwkv::v1::ModelInfo* response) override;

 private:
  // One unary call: once authenticated (the one check of who calls: ServiceContext::
  // Authenticate) and the server is ready (the one readiness check: ServiceContext::
  // CheckReady), runs `work(tenant)` on the I/O pool when it may block on the store
  // (RESOURCE_EXHAUSTED when the pool's queue is full), else inline; then finishes the call with
  // its status and logs it.
  template <typename Work>
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, absl::string_view method,
                                std::string session, bool blocking, Work work);
  template <typename Work>
  grpc::ServerUnaryReactor* RunBlocking(grpc::CallbackServerContext* context,
                                        absl::string_view method, std::string session, Work work) {
    return Run(context, method, std::move(session), /*blocking=*/true, std::move(work));
  }
  template <typename Work>
  grpc::ServerUnaryReactor* RunInline(grpc::CallbackServerContext* context,
                                      absl::string_view method, Work work) {
    return Run(context, method, "", /*blocking=*/false, std::move(work));
  }

  ServiceContext& context_;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_RWKV_SERVICE_H_
