#include "server/http/openai_call.h"

#include <utility>

namespace rwkv::server::http {
namespace {

constexpr char kJson[] = "application/json";

}  // namespace

OpenAiCall::OpenAiCall(ServiceContext& service, std::shared_ptr<HttpExchange> exchange, Info info,
                       ResponseContext context)
    : service_(service),
      active_(service),
      exchange_(std::move(exchange)),
      info_(std::move(info)),
      context_(std::move(context)) {}

OpenAiCall::~OpenAiCall() {
  absl::MutexLock lock(&mu_);  // uncontended by now, but the fields are guarded
  RequestRecord record;
  record.method = info_.method;
  record.request_id = info_.request_id;
  record.session = session_id_;
  record.prompt_tokens = prompt_tokens_;
  record.generated_tokens = generated_tokens_;
  record.status = final_status_;
  record.duration = service_.clock->Now() - info_.received;
  record.tenant = info_.tenant;
  service_.RecordRequest(record);
}

void OpenAiCall::Start(OpenAiRequest request) {
  stream_ = request.stream;
  include_usage_ = request.include_usage;
  session_id_ = request.turn.session_id;
  request.turn.tenant = info_.tenant;  // the turn sees only this tenant's sessions
  request.turn.generation.received = info_.received;
  {
    absl::MutexLock lock(&mu_);
    self_ = shared_from_this();
  }
  turn_.emplace(service_.turn_services(), this);
  turn_->Start(std::move(request.turn));
}

void OpenAiCall::Cancel() {
  if (turn_.has_value()) turn_->Cancel();
}

void OpenAiCall::Wake() {
  if (turn_.has_value()) turn_->Wake();
}

bool OpenAiCall::Ready() const {
  return !stream_ || exchange_->Pending() < HttpExchange::kHighWaterBytes;
}

HttpHeaders OpenAiCall::Headers() const { return {{"x-request-id", info_.request_id}}; }

void OpenAiCall::OnDelta(GenerationDelta delta) {
  if (delta.text.empty()) return;  // tokens of an unfinished character: nothing to show yet
  if (stream_) {
    Stream(delta.text);
    return;
  }
  absl::MutexLock lock(&mu_);
  text_ += delta.text;
}

void OpenAiCall::Stream(absl::string_view text) {
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    first = !stream_started_;
    stream_started_ = true;
  }
  if (first) StartStream();
  exchange_->Write(ChunkEvent(context_, text, first));
}

void OpenAiCall::StartStream() {
  HttpHeaders headers = Headers();
  headers.emplace_back("cache-control", "no-cache");
  headers.emplace_back("x-accel-buffering", "no");  // nginx: pass each event on at once
  exchange_->StartStream(200, "text/event-stream", std::move(headers));
}

void OpenAiCall::OnFinished(TurnResult result) {
  std::shared_ptr<OpenAiCall> self;  // released last: this call may end with it
  bool started = false;
  std::string text;
  {
    absl::MutexLock lock(&mu_);
    self = std::move(self_);
    started = stream_started_;
    text = std::move(text_);
    final_status_ = result.status;
    prompt_tokens_ = result.prompt_tokens;
    generated_tokens_ = result.generated_tokens;
  }
  if (stream_ && (started || result.status.ok())) {
    FinishStream(result, started);
  } else if (result.status.ok()) {
    exchange_->Respond(200, kJson, CompletionBody(context_, text, result), Headers());
  } else {
    HttpHeaders headers = Headers();
    if (result.status.code() == absl::StatusCode::kUnauthenticated) {
      headers.emplace_back("www-authenticate", "Bearer");
    }
    exchange_->Respond(HttpStatus(result.status.code()), kJson, ErrorBody(result.status),
                       std::move(headers));
  }
}

void OpenAiCall::FinishStream(const TurnResult& result, bool started) {
  if (!started) {  // nothing was generated: the 200 and the role go with the last events
    StartStream();
    exchange_->Write(ChunkEvent(context_, "", /*first=*/true));
  }
  exchange_->Write(result.status.ok() ? FinalEvents(context_, result, include_usage_)
                                      : ErrorEvent(result.status));
  exchange_->EndStream();
}

}  // namespace rwkv::server::http
