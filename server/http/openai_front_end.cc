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
           *exchange, request, nullptr);
    return;
  }
  if (const char* allowed = models ? "GET" : "POST"; request.method != allowed) {
    call.method = absl::StrCat("HTTP ", request.path);  // never the client's method
    Refuse(call, absl::InvalidArgumentError(absl::StrCat(request.path, " takes ", allowed)),
           *exchange, request, nullptr, /*http_status=*/405);
    return;
  }
  // Before anything else: a caller that is refused learns nothing, not even readiness.
  auth::Credentials credentials;
  credentials.authorization = request.Headers("authorization");
  absl::StatusOr<std::string> tenant = service_.Authenticate(credentials);
  if (!tenant.ok()) {
    Refuse(call, tenant.status(), *exchange, request, nullptr);
    return;
  }
  if (absl::Status ready = service_.CheckReady(); !ready.ok()) {
    Refuse(call, ready, *exchange, request, &*tenant);
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
  absl::StatusOr<OpenAiRequest> parsed =
      ParseOpenAiRequest(endpoint, request.body, request.Header("x-session-id"),
                         *service_.tokenizer, service_.engine->config().n_vocab, service_.limits);
  if (!parsed.ok()) {
    Refuse(call, parsed.status(), *exchange, request, &tenant);
    return;
  }
  ResponseContext context;
  context.endpoint = endpoint;
  context.id = CompletionId(endpoint, call.request_id);
  context.model = ModelId(service_.model_source);
  context.created = absl::ToUnixSeconds(call.received);
  context.fingerprint = service_.engine->fingerprint();
  auto turn = std::make_shared<OpenAiCall>(
      service_, exchange, OpenAiCall::Info{call.method, call.request_id, tenant, call.received},
      std::move(context));
  // The exchange holds the call until it closes; a client that leaves early cancels the turn
  // exactly as a gRPC cancel does.
  exchange->SetCallbacks({[turn] { turn->Cancel(); }, [turn] { turn->Wake(); }});
  turn->Start(*std::move(parsed));
}

void OpenAiFrontEnd::Refuse(const Call& call, const absl::Status& status, HttpExchange& exchange,
                            const HttpRequest& request, const std::string* tenant,
                            int http_status) {
  HttpHeaders headers = IdHeader(call.request_id);
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    headers.emplace_back("www-authenticate", "Bearer");
  }
  if (http_status == 405) headers.emplace_back("allow", request.path == "/v1/models" ? "GET" : "POST");
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
    record.peer = request.peer;
  }
  service_.RecordRequest(record);
}

}  // namespace rwkv::server::http
