// RwkvClient: a small synchronous client for the rwkv.v1.Rwkv service and the standard
// grpc.health.v1.Health service, returning absl::Status instead of grpc::Status.
//
//   RWKV_ASSIGN_OR_RETURN(auto client, RwkvClient::Connect("127.0.0.1:50051", absl::Seconds(5)));
//   rwkv::v1::GenerateRequest request;
//   request.set_text("The quick brown fox");
//   rwkv::v1::GenerateResponse::Done done;
//   RWKV_RETURN_IF_ERROR(client->Generate(
//       request, [](const auto& delta) { std::cout << delta.text() << std::flush; }, &done));
//
// The channel is plaintext unless ChannelOptions asks for TLS (channel_options.h): a CA file to
// verify the server against, and a client certificate where the server requires mutual TLS.
//
// Routing: every call that names a session (Generate with a session_id, CreateSession with an ID,
// GetSession, DeleteSession, ForkSession's source) carries that ID as the request metadata
// `x-session-id` (kSessionIdMetadataKey), so that a balancer in front of several replicas can send
// a session's turns to the replica where its state is hot (deploy/nginx/rwkv-grpc.conf hashes on
// it). Only speed depends on it: any replica can serve any session.
//
// Authentication: with SetAuthToken, every call carries `authorization: Bearer <token>`
// (AddAuthorization), what a server with --auth-tokens-file requires.
//
// Thread safety: SetAuthToken before the first call; every other method may be called from many
// threads at once; calls are independent streams multiplexed over one HTTP/2 connection.
#ifndef RWKV_CLIENT_RWKV_CLIENT_H_
#define RWKV_CLIENT_RWKV_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/channel_options.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "rwkv/v1/rwkv.grpc.pb.h"

namespace rwkv::client {

// The request metadata a balancer routes by: the session the call names.
inline constexpr char kSessionIdMetadataKey[] = "x-session-id";

// Adds `x-session-id: <session_id>` to `context` (before its call starts). Nothing for an empty
// ID, or for one that is not a valid header value (printable ASCII, at most 1024 bytes): gRPC
// would fail such a call on the client, while the server answers it with a clear
// INVALID_ARGUMENT naming the field.
void AddSessionRouting(grpc::ClientContext& context, const std::string& session_id);

// Adds `authorization: <authorization>` to `context` (before its call starts); nothing when
// `authorization` is empty.
void AddAuthorization(grpc::ClientContext& context, const std::string& authorization);

// The one place where a gRPC status becomes an absl::Status: same code (the numeric values of
// the two enums are identical by design), same message.
absl::Status FromGrpcStatus(const grpc::Status& status);

class RwkvClient {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;
  using DeltaCallback = std::function<void(const rwkv::v1::GenerateResponse::Delta&)>;

  // Deadline of a unary call made without a caller-supplied context.
  static constexpr absl::Duration kDefaultUnaryTimeout = absl::Seconds(30);

  // Opens a channel to `address` (HOST:PORT, or any gRPC target such as unix:PATH) with
  // `channel`'s credentials (plaintext by default) and waits up to `timeout` for it to connect
  // (with TLS: to complete the handshake); UNAVAILABLE if it does not. A zero or negative
  // timeout skips the wait (the first RPC then connects). INVALID_ARGUMENT for bad TLS options
  // or unreadable certificate files.
  static absl::StatusOr<std::unique_ptr<RwkvClient>> Connect(
      const std::string& address, absl::Duration timeout,
      const ChannelOptions& channel = ChannelOptions());
  // Wraps an existing channel (tests, custom credentials). No connection is attempted.
  explicit RwkvClient(std::shared_ptr<grpc::Channel> channel);

  // Sends `authorization: Bearer <token>` with every call from now on ("" = none). Call it
  // before the first call (client/auth_token.h reads the token).
  void SetAuthToken(const std::string& token);

  // Runs one Generate call: calls `on_delta` for every Delta in arrival order (on the calling
  // thread), stores the final Done in `*done` (may be null), and returns the call's status.
  // A stream that ends OK without a Done message is INTERNAL (the server broke the contract).
  // `context` may be null; pass one to set a deadline or to cancel the call (TryCancel) from
  // another thread, in which case CANCELLED is returned. Without a context there is no deadline.
  absl::Status Generate(const rwkv::v1::GenerateRequest& request, const DeltaCallback& on_delta,
                        rwkv::v1::GenerateResponse::Done* done,
                        grpc::ClientContext* context = nullptr);

  // Unary calls. `context` may be null: the call then gets kDefaultUnaryTimeout as its deadline.
  absl::StatusOr<rwkv::v1::Session> CreateSession(const rwkv::v1::CreateSessionRequest& request,
                                                  grpc::ClientContext* context = nullptr);
  absl::StatusOr<rwkv::v1::Session> GetSession(const std::string& session_id,
                                               grpc::ClientContext* context = nullptr);
  absl::StatusOr<rwkv::v1::ListSessionsResponse> ListSessions(
      const rwkv::v1::ListSessionsRequest& request, grpc::ClientContext* context = nullptr);
  absl::Status DeleteSession(const std::string& session_id, grpc::ClientContext* context = nullptr);
  absl::StatusOr<rwkv::v1::Session> ForkSession(const rwkv::v1::ForkSessionRequest& request,
                                                grpc::ClientContext* context = nullptr);
  absl::StatusOr<rwkv::v1::TokenizeResponse> Tokenize(const std::string& text,
                                                      grpc::ClientContext* context = nullptr);
  absl::StatusOr<rwkv::v1::DetokenizeResponse> Detokenize(
      const rwkv::v1::DetokenizeRequest& request, grpc::ClientContext* context = nullptr);
  absl::StatusOr<rwkv::v1::ModelInfo> GetModelInfo(grpc::ClientContext* context = nullptr);

  // grpc.health.v1.Health/Check for `service` ("" = the whole server, or e.g. "rwkv.v1.Rwkv").
  // An unknown service is the server's NOT_FOUND error, not a ServingStatus.
  absl::StatusOr<ServingStatus> Health(const std::string& service,
                                       grpc::ClientContext* context = nullptr);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string authorization_;  // "Bearer <token>", or "" for none
  std::unique_ptr<rwkv::v1::Rwkv::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_stub_;
};

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_RWKV_CLIENT_H_
