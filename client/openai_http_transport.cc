#include "client/openai_http_transport.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"

namespace rwkv::client {
namespace {

using Json = nlohmann::json;
using Clock = RequestTimer::Clock;

// The error object's `code` is the gRPC code's name in lower case (server/http/
// openai_response.h); anything else is UNKNOWN.
absl::Status ErrorStatus(const Json& error, absl::string_view fallback) {
  absl::StatusCode code = absl::StatusCode::kUnknown;
  std::string message(fallback);
  if (error.is_object()) {
    if (auto it = error.find("message"); it != error.end() && it->is_string()) message = *it;
    if (auto it = error.find("code"); it != error.end() && it->is_string()) {
      for (int c = 1; c <= 16; ++c) {
        const auto candidate = static_cast<absl::StatusCode>(c);
        if (absl::AsciiStrToLower(absl::StatusCodeToString(candidate)) == *it) code = candidate;
      }
    }
  }
  return absl::Status(code, message);
}

// The events of one streamed turn, fed as libcurl hands over the bytes.
class EventStream {
 public:
  explicit EventStream(RequestTimer& timer) : timer_(timer) {}

  void Feed(absl::string_view bytes) {
    pending_.append(bytes.data(), bytes.size());
    size_t end;
    while ((end = pending_.find("\n\n")) != std::string::npos) {
      Event(absl::string_view(pending_).substr(0, end));
      pending_.erase(0, end + 2);
    }
  }

  const std::string& unparsed() const { return pending_; }

  // The turn's outcome once the response has ended.
  absl::Status Finish() {
    if (!status_.ok()) return status_;
    if (!done_) return absl::UnavailableError("the stream ended without data: [DONE]");
    if (usage_tokens_ > arrivals_) timer_.OnTokens(last_arrival_, usage_tokens_ - arrivals_);
    return absl::OkStatus();
  }

 private:
  void Event(absl::string_view event) {
    if (!absl::ConsumePrefix(&event, "data: ") || !status_.ok()) return;
    if (event == "[DONE]") {
      done_ = true;
      return;
    }
    const Json chunk = Json::parse(event.begin(), event.end(), nullptr, /*exceptions=*/false);
    if (chunk.is_discarded()) {
      status_ = absl::InternalError(absl::StrCat("an event that is not JSON: ", event));
    } else if (auto error = chunk.find("error"); error != chunk.end()) {
      status_ = ErrorStatus(*error, "an error event");
    } else if (auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
      usage_tokens_ = usage->value("completion_tokens", 0);
    } else if (auto choices = chunk.find("choices");
               choices != chunk.end() && choices->is_array() && !choices->empty() &&
               !(*choices)[0].value("text", std::string()).empty()) {
      last_arrival_ = Clock::now();
      timer_.OnTokens(last_arrival_, 1);
      ++arrivals_;
    }
  }

  RequestTimer& timer_;
  std::string pending_;
  absl::Status status_;
  bool done_ = false;
  int arrivals_ = 0;
  int usage_tokens_ = 0;
  Clock::time_point last_arrival_;
};

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct HeaderListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// One user's connection: an easy handle keeps its connection alive between turns.
class OpenAiHttpTransport final : public LoadgenTransport {
 public:
  OpenAiHttpTransport(const std::string& base_url, const std::string& token,
                      const std::string& ca_file, absl::Duration timeout)
      : curl_(curl_easy_init()), url_(absl::StrCat(base_url, "/v1/completions")) {
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!token.empty()) {
      headers = curl_slist_append(headers, absl::StrCat("Authorization: Bearer ", token).c_str());
    }
    headers_.reset(headers);
    CURL* curl = curl_.get();
    curl_easy_setopt(curl, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers_.get());
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(timeout)));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    if (!ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file.c_str());
  }

  absl::Status Turn(const rwkv::v1::GenerateRequest& request, RequestTimer& timer) override {
    absl::StatusOr<std::string> body = OpenAiCompletionBody(request);
    if (!body.ok()) return body.status();
    EventStream events(timer);
    auto on_bytes = [](char* data, size_t size, size_t count, void* user) -> size_t {
      static_cast<EventStream*>(user)->Feed(absl::string_view(data, size * count));
      return size * count;
    };
    CURL* curl = curl_.get();
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +on_bytes);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &events);
    const CURLcode result = curl_easy_perform(curl);
    if (result == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(curl_easy_strerror(result));
    }
    if (result != CURLE_OK) return absl::UnavailableError(curl_easy_strerror(result));
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
      // An error body is one line of JSON: no event ended it, so it is all still unparsed.
      const Json error = Json::parse(events.unparsed(), nullptr, /*exceptions=*/false);
      return ErrorStatus(error.is_object() ? error.value("error", Json()) : Json(),
                         absl::StrCat("HTTP ", status));
    }
    return events.Finish();
  }

 private:
  std::unique_ptr<CURL, CurlDeleter> curl_;
  std::unique_ptr<curl_slist, HeaderListDeleter> headers_;
  const std::string url_;
};

}  // namespace

absl::StatusOr<std::string> OpenAiCompletionBody(const rwkv::v1::GenerateRequest& request) {
  if (!request.has_text()) {
    return absl::InvalidArgumentError("the HTTP API takes a text prompt (not --prompt-tokens)");
  }
  Json body = {{"prompt", request.text()},
               {"temperature", request.sampling().temperature()},
               {"max_tokens", request.stop().max_tokens()},
               {"ignore_eos", request.stop().ignore_end_of_text()},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (request.sampling().has_top_p()) body["top_p"] = request.sampling().top_p();
  if (!request.session_id().empty()) {
    body["session_id"] = request.session_id();
    body["create_session"] = request.create_session();
  }
  return body.dump();
}

TransportFactory OpenAiHttpTransports(std::string base_url, std::string token,
                                      std::string ca_file, absl::Duration request_timeout) {
  static std::once_flag curl_ready;  // curl_global_init is not thread-safe: once, up front
  std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return [base_url = std::move(base_url), token = std::move(token), ca_file = std::move(ca_file),
          request_timeout](int /*user*/) -> std::unique_ptr<LoadgenTransport> {
    return std::make_unique<OpenAiHttpTransport>(base_url, token, ca_file, request_timeout);
  };
}

}  // namespace rwkv::client
