#include "client/rwkv_client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rwkv::client {
namespace {

using rwkv::v1::GenerateResponse;

// Calls a unary `method` of `stub`. A null `context` is replaced by a local one with the default
// deadline, so that a hung server cannot hang the caller forever. `session_id`: the session the
// call names, sent as routing metadata ("" for none).
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> CallUnary(
    Stub* stub, grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
    const Request& request, grpc::ClientContext* context, const std::string& authorization,
    const std::string& session_id = "") {
  grpc::ClientContext local;
  if (context == nullptr) {
    local.set_deadline(absl::ToChronoTime(absl::Now() + RwkvClient::kDefaultUnaryTimeout));
    context = &local;
  }
  AddAuthorization(*context, authorization);
  AddSessionRouting(*context, session_id);
  Response response;
  const grpc::Status status = (stub->*method)(context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// gRPC refuses (on the client) a metadata value with other bytes than printable ASCII.
bool IsHeaderValue(const std::string& value) {
  constexpr size_t kMaxRoutingValueBytes = 1024;
  if (value.empty() || value.size() > kMaxRoutingValueBytes) return false;
  for (const char c : value) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

void AddSessionRouting(grpc::ClientContext& context, const std::string& session_id) {
  if (IsHeaderValue(session_id)) context.AddMetadata(kSessionIdMetadataKey, session_id);
}

void AddAuthorization(grpc::ClientContext& context, const std::string& authorization) {
  if (!authorization.empty()) context.AddMetadata("authorization", authorization);
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

absl::StatusOr<std::unique_ptr<RwkvClient>> RwkvClient::Connect(const std::string& address,
                                                                absl::Duration timeout,
                                                                const ChannelOptions& options) {
  if (address.empty()) return absl::InvalidArgumentError("empty server address");
  RWKV_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel, MakeChannel(address, options));
  if (timeout > absl::ZeroDuration() &&
      !channel->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout))) {
    // A failed TLS handshake looks the same from here as a server that is not there.
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to ", address, " within ", absl::FormatDuration(timeout),
        options.tls() ? " (TLS: is the server's certificate signed by the CA given, for this "
                        "name, and does the server speak TLS?)"
                      : ""));
  }
  return std::make_unique<RwkvClient>(std::move(channel));
}

RwkvClient::RwkvClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(rwkv::v1::Rwkv::NewStub(channel_)),
      health_stub_(grpc::health::v1::Health::NewStub(channel_)) {}

void RwkvClient::SetAuthToken(const std::string& token) {
  authorization_ = token.empty() ? "" : absl::StrCat("Bearer ", token);
}

absl::Status RwkvClient::Generate(const rwkv::v1::GenerateRequest& request,
                                  const DeltaCallback& on_delta, GenerateResponse::Done* done,
                                  grpc::ClientContext* context) {
  grpc::ClientContext local;
  if (context == nullptr) context = &local;
  AddAuthorization(*context, authorization_);
  AddSessionRouting(*context, request.session_id());
  std::unique_ptr<grpc::ClientReader<GenerateResponse>> reader = stub_->Generate(context, request);
  GenerateResponse response;
  bool got_done = false;
  while (reader->Read(&response)) {
    if (response.has_delta()) {
      if (on_delta) on_delta(response.delta());
    } else if (response.has_done()) {
      got_done = true;
      if (done != nullptr) *done = std::move(*response.mutable_done());
    }
    // Any other event is from a newer server: skipped, as proto3 clients do with unknown fields.
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!got_done) {
    return absl::InternalError("the server ended the Generate stream without a done message");
  }
  return absl::OkStatus();
}

absl::StatusOr<rwkv::v1::Session> RwkvClient::CreateSession(
    const rwkv::v1::CreateSessionRequest& request, grpc::ClientContext* context) {
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::CreateSession, request, context,
                   authorization_, request.session_id());
}

absl::StatusOr<rwkv::v1::Session> RwkvClient::GetSession(const std::string& session_id,
                                                         grpc::ClientContext* context) {
  rwkv::v1::GetSessionRequest request;
  request.set_session_id(session_id);
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::GetSession, request, context, authorization_,
                   session_id);
}

absl::StatusOr<rwkv::v1::ListSessionsResponse> RwkvClient::ListSessions(
    const rwkv::v1::ListSessionsRequest& request, grpc::ClientContext* context) {
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::ListSessions, request, context,
                   authorization_);
}

absl::Status RwkvClient::DeleteSession(const std::string& session_id,
                                       grpc::ClientContext* context) {
  rwkv::v1::DeleteSessionRequest request;
  request.set_session_id(session_id);
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::DeleteSession, request, context,
                   authorization_, session_id)
      .status();
}

absl::StatusOr<rwkv::v1::Session> RwkvClient::ForkSession(
    const rwkv::v1::ForkSessionRequest& request, grpc::ClientContext* context) {
  // Routed by the source: its state is what the fork reads.
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::ForkSession, request, context,
                   authorization_, request.source_session_id());
}

absl::StatusOr<rwkv::v1::TokenizeResponse> RwkvClient::Tokenize(const std::string& text,
                                                                grpc::ClientContext* context) {
  rwkv::v1::TokenizeRequest request;
  request.set_text(text);
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::Tokenize, request, context, authorization_);
}

absl::StatusOr<rwkv::v1::DetokenizeResponse> RwkvClient::Detokenize(
    const rwkv::v1::DetokenizeRequest& request, grpc::ClientContext* context) {
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::Detokenize, request, context,
                   authorization_);
}

absl::StatusOr<rwkv::v1::ModelInfo> RwkvClient::GetModelInfo(grpc::ClientContext* context) {
  return CallUnary(stub_.get(), &rwkv::v1::Rwkv::Stub::GetModelInfo,
                   rwkv::v1::GetModelInfoRequest(), context, authorization_);
}

absl::StatusOr<RwkvClient::ServingStatus> RwkvClient::Health(const std::string& service,
                                                             grpc::ClientContext* context) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  absl::StatusOr<grpc::health::v1::HealthCheckResponse> response = CallUnary(
      health_stub_.get(), &grpc::health::v1::Health::Stub::Check, request, context, authorization_);
  if (!response.ok()) return response.status();
  return response->status();
}

}  // namespace rwkv::client
