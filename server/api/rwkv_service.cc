#include "server/api/rwkv_service.h"

#include <memory>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "engine/tokenizer/utf8_detokenizer.h"
#include "server/api/generate_reactor.h"
#include "server/api/request_id.h"
#include "server/api/request_limits.h"
#include "server/api/session_proto.h"
#include "server/api/status_util.h"

namespace rwkv::server {

template <typename Work>
grpc::ServerUnaryReactor* RwkvService::Run(grpc::CallbackServerContext* context,
                                           absl::string_view method, std::string session,
                                           bool blocking, Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Before anything else: a caller that is refused learns nothing, not even readiness.
  absl::StatusOr<std::string> tenant = context_.Authenticate(*context);
  auto finish = [this, reactor, method, start = context_.clock->Now(),
                 request_id = AttachRequestId(context),
                 active = std::make_shared<ActiveCall>(context_),
                 caller = Caller::Of(*context, tenant)](absl::string_view logged_session,
                                                      absl::Status status) {
    RequestRecord record{method, request_id, logged_session, -1, -1, status,
                         context_.clock->Now() - start};
    caller.AddTo(record);
    context_.RecordRequest(record);
    reactor->Finish(ToGrpcStatus(status));
  };
  if (!tenant.ok()) {
    finish("", tenant.status());
  } else if (absl::Status ready = context_.CheckReady(); !ready.ok()) {
    finish("", std::move(ready));
  } else if (blocking) {
    // New work: refused (RESOURCE_EXHAUSTED) rather than queued when the I/O queue is full.
    absl::Status posted = context_.io->TryPost(
        [finish, session, work, tenant = *tenant]() mutable { finish(session, work(tenant)); });
    if (!posted.ok()) finish(session, std::move(posted));
  } else {
    finish(session, work(*tenant));
  }
  return reactor;
}

grpc::ServerWriteReactor<rwkv::v1::GenerateResponse>* RwkvService::Generate(
    grpc::CallbackServerContext* context, const rwkv::v1::GenerateRequest* request) {
  return new GenerateReactor(context_, context, request);
}

grpc::ServerUnaryReactor* RwkvService::CreateSession(grpc::CallbackServerContext* context,
                                                     const rwkv::v1::CreateSessionRequest* request,
                                                     rwkv::v1::Session* response) {
  return RunBlocking(context, "CreateSession", request->session_id(),
                     [this, request, response](const std::string& tenant) {
                       absl::StatusOr<SessionRecord> session = context_.sessions->CreateSession(
                           tenant, request->session_id(), MetadataFromProto(request->metadata()));
                       if (session.ok()) *response = ToProto(*session);
                       return session.status();
                     });
}

grpc::ServerUnaryReactor* RwkvService::GetSession(grpc::CallbackServerContext* context,
                                                  const rwkv::v1::GetSessionRequest* request,
                                                  rwkv::v1::Session* response) {
  return RunBlocking(context, "GetSession", request->session_id(),
                     [this, request, response](const std::string& tenant) {
                       absl::StatusOr<SessionRecord> session =
                           context_.sessions->GetSession(tenant, request->session_id());
                       if (session.ok()) *response = ToProto(*session);
                       return session.status();
                     });
}

grpc::ServerUnaryReactor* RwkvService::ListSessions(grpc::CallbackServerContext* context,
                                                    const rwkv::v1::ListSessionsRequest* request,
                                                    rwkv::v1::ListSessionsResponse* response) {
  return RunBlocking(
      context, "ListSessions", "", [this, request, response](const std::string& tenant) {
        absl::StatusOr<SessionManager::Page> page =
            context_.sessions->ListSessions(tenant, request->page_size(), request->page_token());
        if (!page.ok()) return page.status();
        for (const SessionRecord& session : page->sessions) {
          *response->add_sessions() = ToProto(session);
        }
        response->set_next_page_token(page->next_page_token);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* RwkvService::DeleteSession(grpc::CallbackServerContext* context,
                                                     const rwkv::v1::DeleteSessionRequest* request,
                                                     rwkv::v1::DeleteSessionResponse* response) {
  return RunBlocking(context, "DeleteSession", request->session_id(),
                     [this, request](const std::string& tenant) {
                       return context_.sessions->DeleteSession(tenant, request->session_id());
                     });
}

grpc::ServerUnaryReactor* RwkvService::ForkSession(grpc::CallbackServerContext* context,
                                                   const rwkv::v1::ForkSessionRequest* request,
                                                   rwkv::v1::Session* response) {
  return RunBlocking(context, "ForkSession", request->source_session_id(),
                     [this, request, response](const std::string& tenant) {
                       // Source and copy are both the tenant's.
                       absl::StatusOr<SessionRecord> session = context_.sessions->ForkSession(
                           tenant, request->source_session_id(), request->new_session_id(),
                           MetadataFromProto(request->metadata()));
                       if (session.ok()) *response = ToProto(*session);
                       return session.status();
                     });
}

grpc::ServerUnaryReactor* RwkvService::Tokenize(grpc::CallbackServerContext* context,
                                                const rwkv::v1::TokenizeRequest* request,
                                                rwkv::v1::TokenizeResponse* response) {
  return RunInline(context, "Tokenize", [this, request, response](const std::string&) {
    RWKV_RETURN_IF_ERROR(CheckAtMost("text", "bytes", request->text().size(), kMaxTextBytes));
    absl::StatusOr<std::vector<int32_t>> ids = context_.tokenizer->Encode(request->text());
    if (ids.ok()) response->mutable_token_ids()->Add(ids->begin(), ids->end());
    return ids.status();
  });
}

grpc::ServerUnaryReactor* RwkvService::Detokenize(grpc::CallbackServerContext* context,
                                                  const rwkv::v1::DetokenizeRequest* request,
                                                  rwkv::v1::DetokenizeResponse* response) {
  return RunInline(context, "Detokenize", [this, request, response](const std::string&) {
    // A World token decodes to up to 128 bytes: bound the IDs before decoding, the text after.
    RWKV_RETURN_IF_ERROR(CheckAtMost("token_ids", "IDs", request->token_ids_size(),
                                     context_.limits.max_detokenize_ids(),
                                     " (--max-prompt-tokens + --max-new-tokens)"));
    std::vector<int32_t> ids(request->token_ids().begin(), request->token_ids().end());
    absl::StatusOr<std::string> bytes = context_.tokenizer->Decode(ids);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("token_ids: ", bytes.status().message()));
    }
    engine::Utf8Detokenizer utf8;
    std::string text = utf8.Push(*bytes) + utf8.Flush();
    RWKV_RETURN_IF_ERROR(CheckAtMost("token_ids' text", "bytes", text.size(), kMaxTextOutBytes));
    response->set_text(std::move(text));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RwkvService::GetModelInfo(grpc::CallbackServerContext* context,
                                                    const rwkv::v1::GetModelInfoRequest* request,
                                                    rwkv::v1::ModelInfo* response) {
  return RunInline(context, "GetModelInfo", [this, response](const std::string&) {
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
    return absl::OkStatus();
  });
}

}  // namespace rwkv::server
