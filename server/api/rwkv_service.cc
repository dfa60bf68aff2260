#include "server/api/rwkv_service.h"

#include <map>
#include <string>
#include <utility>

#include "engine/tokenizer/utf8_detokenizer.h"
#include "server/api/generate_reactor.h"
#include "server/api/request_id.h"
#include "server/api/status_util.h"

namespace rwkv::server {
namespace {

using google::protobuf::Map;

std::map<std::string, std::string> ToMap(const Map<std::string, std::string>& metadata) {
  return std::map<std::string, std::string>(metadata.begin(), metadata.end());
}

absl::Status NotReady() {
  return absl::UnavailableError("the server is starting: the model is loading");
}

}  // namespace

template <typename Work>
grpc::ServerUnaryReactor* RwkvService::RunBlocking(grpc::CallbackServerContext* context,
                                                   absl::string_view method, std::string session,
                                                   Work work) {
  const absl::Time start = absl::Now();
  if (!context_.ready.load(std::memory_order_acquire)) {
    return FinishNow(context, method, NotReady(), start);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  context_.io->Post([this, reactor, method, session = std::move(session), work, start,
                     request_id = AttachRequestId(context),
                     active = std::make_shared<ActiveCall>(context_)]() mutable {
    const absl::Status status = work();
    context_.RecordRequest({method, request_id, session, -1, -1, status, absl::Now() - start});
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

grpc::ServerUnaryReactor* RwkvService::FinishNow(grpc::CallbackServerContext* context,
                                                 absl::string_view method, absl::Status status,
                                                 absl::Time start) {
  const std::string request_id = AttachRequestId(context);
  context_.RecordRequest({method, request_id, "", -1, -1, status, absl::Now() - start});
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>* RwkvService::Generate(
    grpc::CallbackServerContext* context, const rwkv::v1::GenerateRequest* request) {
  return new GenerateReactor(context_, context, request);
}

grpc::ServerUnaryReactor* RwkvService::CreateSession(grpc::CallbackServerContext* context,
                                                     const rwkv::v1::CreateSessionRequest* request,
                                                     rwkv::v1::Session* response) {
  return RunBlocking(context, "CreateSession", request->session_id(), [this, request, response] {
    if (!request->session_id().empty()) {
      if (absl::Status s = SessionManager::ValidateId(request->session_id()); !s.ok()) return s;
    }
    auto metadata = ToMap(request->metadata());
    if (absl::Status s = SessionManager::ValidateMetadata(metadata); !s.ok()) return s;
    absl::StatusOr<rwkv::v1::Session> session =
        context_.sessions->CreateSession(request->session_id(), std::move(metadata));
    if (session.ok()) *response = *std::move(session);
    return session.status();
  });
}

grpc::ServerUnaryReactor* RwkvService::GetSession(grpc::CallbackServerContext* context,
                                                  const rwkv::v1::GetSessionRequest* request,
                                                  rwkv::v1::Session* response) {
  return RunBlocking(context, "GetSession", request->session_id(), [this, request, response] {
    if (absl::Status s = SessionManager::ValidateId(request->session_id()); !s.ok()) return s;
    absl::StatusOr<rwkv::v1::Session> session =
        context_.sessions->GetSession(request->session_id());
    if (session.ok()) *response = *std::move(session);
    return session.status();
  });
}

grpc::ServerUnaryReactor* RwkvService::ListSessions(grpc::CallbackServerContext* context,
                                                    const rwkv::v1::ListSessionsRequest* request,
                                                    rwkv::v1::ListSessionsResponse* response) {
  return RunBlocking(context, "ListSessions", "", [this, request, response] {
    absl::StatusOr<SessionManager::Page> page =
        context_.sessions->ListSessions(request->page_size(), request->page_token());
    if (!page.ok()) return page.status();
    for (rwkv::v1::Session& session : page->sessions) {
      *response->add_sessions() = std::move(session);
    }
    response->set_next_page_token(page->next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RwkvService::DeleteSession(grpc::CallbackServerContext* context,
                                                     const rwkv::v1::DeleteSessionRequest* request,
                                                     rwkv::v1::DeleteSessionResponse* response) {
  return RunBlocking(context, "DeleteSession", request->session_id(), [this, request] {
    if (absl::Status s = SessionManager::ValidateId(request->session_id()); !s.ok()) return s;
    return context_.sessions->DeleteSession(request->session_id());
  });
}

grpc::ServerUnaryReactor* RwkvService::ForkSession(grpc::CallbackServerContext* context,
                                                   const rwkv::v1::ForkSessionRequest* request,
                                                   rwkv::v1::Session* response) {
  return RunBlocking(context, "ForkSession", request->source_session_id(), [this, request,
                                                                           response] {
    if (absl::Status s =
            SessionManager::ValidateId(request->source_session_id(), "source_session_id");
        !s.ok()) {
      return s;
    }
    if (!request->new_session_id().empty()) {
      if (absl::Status s = SessionManager::ValidateId(request->new_session_id(), "new_session_id");
          !s.ok()) {
        return s;
      }
    }
    auto metadata = ToMap(request->metadata());
    if (absl::Status s = SessionManager::ValidateMetadata(metadata); !s.ok()) return s;
    absl::StatusOr<rwkv::v1::Session> session = context_.sessions->ForkSession(
        request->source_session_id(), request->new_session_id(), std::move(metadata));
    if (session.ok()) *response = *std::move(session);
    return session.status();
  });
}

grpc::ServerUnaryReactor* RwkvService::Tokenize(grpc::CallbackServerContext* context,
                                                const rwkv::v1::TokenizeRequest* request,
                                                rwkv::v1::TokenizeResponse* response) {
  const absl::Time start = absl::Now();
  if (!context_.ready.load(std::memory_order_acquire)) {
    return FinishNow(context, "Tokenize", NotReady(), start);
  }
  absl::StatusOr<std::vector<int32_t>> ids = context_.tokenizer->Encode(request->text());
  if (ids.ok()) response->mutable_token_ids()->Add(ids->begin(), ids->end());
  return FinishNow(context, "Tokenize", ids.status(), start);
}

grpc::ServerUnaryReactor* RwkvService::Detokenize(grpc::CallbackServerContext* context,
                                                  const rwkv::v1::DetokenizeRequest* request,
                                                  rwkv::v1::DetokenizeResponse* response) {
  const absl::Time start = absl::Now();
  if (!context_.ready.load(std::memory_order_acquire)) {
    return FinishNow(context, "Detokenize", NotReady(), start);
  }
  std::vector<int32_t> ids(request->token_ids().begin(), request->token_ids().end());
  absl::StatusOr<std::string> bytes = context_.tokenizer->Decode(ids);
  if (bytes.ok()) {
    engine::Utf8Detokenizer utf8;
    response->set_text(utf8.Push(*bytes) + utf8.Flush());
  }
  absl::Status status = bytes.status();
  if (!status.ok()) status = absl::InvalidArgumentError(absl::StrCat("token_ids: ", status.message()));
  return FinishNow(context, "Detokenize", status, start);
}

grpc::ServerUnaryReactor* RwkvService::GetModelInfo(grpc::CallbackServerContext* context,
                                                    const rwkv::v1::GetModelInfoRequest* request,
                                                    rwkv::v1::ModelInfo* response) {
  const absl::Time start = absl::Now();
  if (!context_.ready.load(std::memory_order_acquire)) {
    return FinishNow(context, "GetModelInfo", NotReady(), start);
  }
  const engine::Engine& engine = *context_.engine;
  const engine::ModelConfig& config = engine.config();
  response->set_version(std::string(engine::ArchVersionName(config.version)));
  response->set_layers(config.n_layer);
  response->set_embedding(config.n_embed);
  response->set_heads(config.n_head);
  response->set_head_size(config.head_size);
  response->set_vocab_size(config.n_vocab);
  response->set_parameters(engine.parameters());
  response->set_fingerprint(engine.fingerprint());
  response->set_state_bytes(config.StateBytes());
  response->set_tokenizer(std::string(context_.tokenizer->Name()));
  response->set_source(context_.model_source);
  response->set_precision(std::string(engine::PrecisionName(engine.precision())));
  response->set_max_prompt_tokens(context_.limits.max_prompt_tokens);
  response->set_max_new_tokens(context_.limits.max_new_tokens);
  return FinishNow(context, "GetModelInfo", absl::OkStatus(), start);
}

}  // namespace rwkv::server
