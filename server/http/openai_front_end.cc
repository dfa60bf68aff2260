#include "server/http/openai_front_end.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/api/request_id.h"
#include "server/http/openai_call.h"
#include "server/http/openai_response.h"

namespace rwkv::server::http {

struct OpenAiFrontEnd::Call {
  std::string method;  // "POST /v1/chat/completions", for the log line
  std::string request_id;
  absl::Time received;
  std::string allow;  // a 405's Allow header
};

namespace {

constexpr char kJson[] = "application/json";

HttpHeaders IdHeader(const std::string& request_id) { return {{"x-request-id", request_id}}; }

}  // namespace

void OpenAiFrontEnd::Handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange) {
  Call call;
  call.received = service_.clock->Now();
  call.method = absl::StrCat(request.method, " ", request.path);
  const absl::string_view client_id = request.Header("x-request-id");
  call.request_id = IsValidRequestId(client_id) ? std::string(client_id) : NewRequestId();

  const bool models = request.path == "/v1/models";
  const bool chat = request.path == "/v1/chat/completions";
  const bool completions = request.path == "/v1/completions";
  if (!models && !chat && !completions) {
    call.method = "HTTP";  // never the client's path: it could be anything, of any size
    Refuse(call, absl::NotFoundError("unknown path: the API has /v1/models, "
                                     "/v1/chat/completions and /v1/completions"),
           *exchange, request.peer, nullptr);
    return;
  }
  if (const char* allowed = models ? "GET" : "POST"; request.method != allowed) {
    call.method = absl::StrCat("HTTP ", request.path);  // never the client's method
    call.allow = allowed;
    Refuse(call, absl::InvalidArgumentError(absl::StrCat(request.path, " takes ", allowed)),
           *exchange, request.peer, nullptr, /*http_status=*/405);
    return;
  }
  // Before anything else: a caller that is refused learns nothing, not even readiness.
  auth::Credentials credentials;
  credentials.authorization = request.Headers("authorization");
  absl::StatusOr<std::string> tenant = service_.Authenticate(credentials);
  if (!tenant.ok()) {
    Refuse(call, tenant.status(), *exchange, request.peer, nullptr);
    return;
  }
  if (request.body_too_large) {
    // HTTP's own status; the error a request's, as OpenAI types it (gRPC itself answers an
    // oversized message RESOURCE_EXHAUSTED, which OpenAI's clients read as a rate limit).
    Refuse(call,
           absl::InvalidArgumentError(absl::StrCat("the body is larger than ",
                                                     service_.limits.max_request_bytes,
                                                     " bytes (--max-request-bytes)")),
           *exchange, request.peer, &*tenant, /*http_status=*/413);
    return;
  }
  if (absl::Status ready = service_.CheckReady(); !ready.ok()) {
    Refuse(call, ready, *exchange, request.peer, &*tenant);
    return;
  }
  if (models) {
    Models(call, *tenant, *exchange);
    return;
  }
  Completion(call, chat ? OpenAiEndpoint::kChatCompletions : OpenAiEndpoint::kCompletions,
             request, *tenant, std::move(exchange));
}

void OpenAiFrontEnd::Models(const Call& call, const std::string& tenant, HttpExchange& exchange) {
  const engine::Engine& engine = *service_.engine;
  exchange.Respond(200, kJson,
                   ModelsBody(ModelId(service_.model_source), engine.fingerprint(),
                              absl::ToUnixSeconds(call.received)),
                   IdHeader(call.request_id));
  RequestRecord record;
  record.method = call.method;
  record.request_id = call.request_id;
  record.duration = service_.clock->Now() - call.received;
  record.tenant = tenant;
  service_.RecordRequest(record);
}

void OpenAiFrontEnd::Completion(const Call& call, OpenAiEndpoint endpoint,
                                const HttpRequest& request, const std::string& tenant,
                                std::shared_ptr<HttpExchange> exchange) {
  // Parsed here first, so that a bad request is refused at once; a chat on a session is framed
  // after what that session's state has seen (ChatHistoryOf), which takes a store read: on the
  // I/O pool, and the body parsed again there if the framing differs.
  const std::string header_session(request.Header("x-session-id"));
  absl::StatusOr<OpenAiRequest> parsed =
      Parse(endpoint, request.body, header_session, ChatHistory::kEmpty);
  if (!parsed.ok()) {
    Refuse(call, parsed.status(), *exchange, request.peer, &tenant);
    return;
  }
  if (endpoint != OpenAiEndpoint::kChatCompletions || parsed->turn.session_id.empty()) {
    StartTurn(call, tenant, std::move(exchange), *std::move(parsed));
    return;
  }
  auto frame = [this, call, tenant, exchange, header_session, body = request.body,
                parsed = *std::move(parsed)]() mutable {
    const absl::StatusOr<SessionRecord> session =
        service_.sessions->GetSession(tenant, parsed.turn.session_id);
    const ChatHistory history = ChatHistoryOf(session);
    if (history != ChatHistory::kEmpty) {
      absl::StatusOr<OpenAiRequest> framed = Parse(parsed.endpoint, body, header_session, history);
      if (!framed.ok()) {
        Refuse(call, framed.status(), *exchange, "", &tenant);
        return;
      }
      parsed = *std::move(framed);
    }
    // The prompt is framed for the version read: a turn that slipped in since is refused (409)
    // rather than continued with the wrong framing. A client's own expected_version stands.
    if (session.ok() && parsed.turn.expected_version == 0) {
      parsed.turn.expected_version = session->version;
    }
    // Recorded with the session when the turn commits, so that the next turn knows whether
    // this one stopped at the chat stop string (ChatHistoryOf). Random: never a retry's ID.
    parsed.turn.turn_id = absl::StrCat("chat-", NewRequestId());
    StartTurn(call, tenant, exchange, std::move(parsed));
  };
  if (absl::Status posted = service_.io->TryPost(std::move(frame)); !posted.ok()) {
    Refuse(call, posted, *exchange, request.peer, &tenant);
  }
}

absl::StatusOr<OpenAiRequest> OpenAiFrontEnd::Parse(OpenAiEndpoint endpoint,
                                                    absl::string_view body,
                                                    absl::string_view header_session,
                                                    ChatHistory history) const {
  return ParseOpenAiRequest(endpoint, body, header_session, history, *service_.tokenizer,
                            service_.engine->config().n_vocab, service_.limits);
}

void OpenAiFrontEnd::StartTurn(const Call& call, const std::string& tenant,
                               std::shared_ptr<HttpExchange> exchange, OpenAiRequest request) {
  ResponseContext context;
  context.endpoint = request.endpoint;
  context.id = CompletionId(request.endpoint, call.request_id);
  context.model = ModelId(service_.model_source);
  context.created = absl::ToUnixSeconds(call.received);
  context.fingerprint = service_.engine->fingerprint();
  auto turn = std::make_shared<OpenAiCall>(
      service_, exchange, OpenAiCall::Info{call.method, call.request_id, tenant, call.received},
      std::move(context));
  turn->Start(std::move(request));
  // The exchange holds the call until it closes; a client that leaves early cancels the turn
  // exactly as a gRPC cancel does. Set after Start, which is what the callbacks reach.
  if (!exchange->SetCallbacks({[turn] { turn->Cancel(); }, [turn] { turn->Wake(); }})) {
    turn->Cancel();
  }
}

void OpenAiFrontEnd::Refuse(const Call& call, const absl::Status& status, HttpExchange& exchange,
                            absl::string_view peer, const std::string* tenant, int http_status) {
  HttpHeaders headers = IdHeader(call.request_id);
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    headers.emplace_back("www-authenticate", "Bearer");
  }
  if (http_status == 405) headers.emplace_back("allow", call.allow);
  exchange.Respond(http_status != 0 ? http_status : HttpStatus(status.code()), kJson,
                   ErrorBody(status), std::move(headers));
  RequestRecord record;
  record.method = call.method;
  record.request_id = call.request_id;
  record.status = status;
  record.duration = service_.clock->Now() - call.received;
  if (tenant != nullptr) {
    record.tenant = *tenant;
  } else {
    record.peer = peer;
  }
  service_.RecordRequest(record);
}

}  // namespace rwkv::server::http
