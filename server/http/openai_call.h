// OpenAiCall: one chat or text completion over HTTP, as a thin adapter between a TurnRunner
// (the same turn a gRPC Generate runs: session, scheduler, commit) and an HttpExchange, like
// GenerateReactor is for gRPC.
//
//   HTTP thread   the front end authenticates, parses, and calls Start
//   engine thread OnDelta per token batch: a stream's SSE chunk (the 200 goes with the first)
//   I/O thread    OnFinished: the whole response, the stream's last events, or the error
//   HTTP thread   the exchange closes; if the client left early, the turn is cancelled
//
// A client that leaves cancels the turn through the exchange's `closed` callback, whether its
// connection is being written or waits suspended (HttpServer's watchdog). A stream's unsent
// bytes are its back-pressure: past HttpExchange::kHighWaterBytes the turn is
// paused (Ready() is false) until the client has read them (Wake), so a slow reader delays
// only itself. An error before the first token is an HTTP error status with OpenAI's error
// body; after it, an error event ends the stream. The call logs its line (and counts in the
// metrics) when both the turn and the exchange are over.
#ifndef RWKV_SERVER_HTTP_OPENAI_CALL_H_
#define RWKV_SERVER_HTTP_OPENAI_CALL_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/api/service_context.h"
#include "server/http/http_exchange.h"
#include "server/http/openai_request.h"
#include "server/http/openai_response.h"
#include "server/turns/turn_runner.h"
#include "server/turns/turn_sink.h"

namespace rwkv::server::http {

class OpenAiCall final : public TurnSink, public std::enable_shared_from_this<OpenAiCall> {
 public:
  struct Info {
    std::string method;  // for the log line: "POST /v1/chat/completions"
    std::string request_id;
    std::string tenant;
    absl::Time received;
  };

  OpenAiCall(ServiceContext& service, std::shared_ptr<HttpExchange> exchange, Info info,
             ResponseContext context);
  ~OpenAiCall() override;  // the log line

  // Runs the turn (`request.turn`, with its tenant and `received` set here); call once, on a
  // shared_ptr. The call keeps itself alive until the turn has finished.
  void Start(OpenAiRequest request) ABSL_LOCKS_EXCLUDED(mu_);
  // The client is gone / has read enough: any thread, after Start has returned.
  void Cancel();
  void Wake();

  // TurnSink.
  bool Ready() const override;
  void OnDelta(GenerationDelta delta) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnFinished(TurnResult result) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  HttpHeaders Headers() const;
  // A stream's next text (engine thread); the first one starts the 200 response.
  void Stream(absl::string_view text) ABSL_LOCKS_EXCLUDED(mu_);
  void StartStream();
  void FinishStream(const TurnResult& result, bool started);

  ServiceContext& service_;
  ActiveCall active_;
  const std::shared_ptr<HttpExchange> exchange_;
  const Info info_;
  const ResponseContext context_;
  // Set in Start, before the turn runs.
  bool stream_ = false;
  bool include_usage_ = false;
  std::string session_id_;
  std::optional<TurnRunner> turn_;

  mutable absl::Mutex mu_;
  std::shared_ptr<OpenAiCall> self_ ABSL_GUARDED_BY(mu_);  // until OnFinished
  bool stream_started_ ABSL_GUARDED_BY(mu_) = false;
  std::string text_ ABSL_GUARDED_BY(mu_);  // a non-streaming response's text
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  int64_t prompt_tokens_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t generated_tokens_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace rwkv::server::http

#endif  // RWKV_SERVER_HTTP_OPENAI_CALL_H_
