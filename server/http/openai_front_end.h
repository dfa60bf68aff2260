// OpenAiFrontEnd: the routes of the OpenAI-compatible HTTP API, over the same ServiceContext as
// the gRPC service (authentication, readiness, limits, the turn runner, the request log):
//
//   GET  /v1/models             the loaded model, with its fingerprint
//   POST /v1/chat/completions   a chat turn (openai_request.h), streamed as SSE or whole
//   POST /v1/completions        a text completion, the same way
//
// A chat on a session is framed after what the session's state has seen (ChatHistoryOf: one
// GetSession on the I/O pool before the turn), and carries a random turn_id so that its own
// ending is known to the next turn; a client that wants the framing exact under concurrent
// turns sends expected_version.
//
// Each request gets a request ID (the client's valid `x-request-id`, else a new one) returned
// as the `x-request-id` header, and one log line. `Authorization: Bearer <token>` is checked
// by the same authenticator as gRPC's metadata, before anything else. Anything else is 404 (or
// 405 for a known path with another method), in OpenAI's error shape.
//
//   OpenAiFrontEnd front_end(context);
//   options.handler = [&](HttpRequest r, std::shared_ptr<HttpExchange> e) {
//     front_end.Handle(std::move(r), std::move(e));
//   };
#ifndef RWKV_SERVER_HTTP_OPENAI_FRONT_END_H_
#define RWKV_SERVER_HTTP_OPENAI_FRONT_END_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "server/api/service_context.h"
#include "server/http/http_exchange.h"
#include "server/http/openai_request.h"

namespace rwkv::server::http {

class OpenAiFrontEnd {
 public:
  explicit OpenAiFrontEnd(ServiceContext& service) : service_(service) {}

  // HttpServer's handler: any event thread; never blocks (a turn answers later).
  void Handle(HttpRequest request, std::shared_ptr<HttpExchange> exchange);

 private:
  struct Call;  // one request's ID, method name and arrival

  void Models(const Call& call, const std::string& tenant, HttpExchange& exchange);
  void Completion(const Call& call, OpenAiEndpoint endpoint, const HttpRequest& request,
                  const std::string& tenant, std::shared_ptr<HttpExchange> exchange);
  absl::StatusOr<OpenAiRequest> Parse(OpenAiEndpoint endpoint, absl::string_view body,
                                      absl::string_view header_session,
                                      ChatHistory history) const;
  void StartTurn(const Call& call, const std::string& tenant,
                 std::shared_ptr<HttpExchange> exchange, OpenAiRequest request);
  // An error response (HttpStatus of its code unless `http_status` is set) and its log line;
  // `tenant` null: refused before authentication, logged with the `peer`. Any thread.
  void Refuse(const Call& call, const absl::Status& status, HttpExchange& exchange,
              absl::string_view peer, const std::string* tenant, int http_status = 0);

  ServiceContext& service_;
};

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_OPENAI_FRONT_END_H_
