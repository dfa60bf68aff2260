// End to end: every repeated or open-ended field has a limit (server/api/request_limits.h). Past
// it a call gets INVALID_ARGUMENT naming the field; past the gRPC message size, RESOURCE_EXHAUSTED;
// a rejected multi-megabyte session ID leaves a short log line; the server keeps serving. The
// HTTP/2 stream limit is read from the server's SETTINGS frame.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"

namespace rwkv::testing {
namespace {

using grpc::StatusCode;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kMiB = 1 << 20;

// The documented defaults (README "Limits", rwkv.proto).
constexpr int kMaxStopTokens = 64;
constexpr int kMaxLogitBias = 1024;
constexpr int kMaxDetokenizeIds = 65536 + 4096;  // --max-prompt-tokens + --max-new-tokens

class LimitsE2eTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--model", TinyModel(), "--state-store", "memory:"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = rwkv::v1::Rwkv::NewStub(server_->Channel());
  }

  // A context with a deadline and the client's own request ID, to find the call's log line.
  static void Prepare(grpc::ClientContext& context, const std::string& request_id = "") {
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    if (!request_id.empty()) context.AddMetadata("x-request-id", request_id);
  }

  grpc::Status Tokenize(const std::string& text) {
    grpc::ClientContext context;
    Prepare(context);
    rwkv::v1::TokenizeRequest request;
    request.set_text(text);
    rwkv::v1::TokenizeResponse response;
    return stub_->Tokenize(&context, request, &response);
  }

  grpc::Status Detokenize(int count, rwkv::v1::DetokenizeResponse* response) {
    grpc::ClientContext context;
    Prepare(context);
    rwkv::v1::DetokenizeRequest request;
    request.mutable_token_ids()->Resize(count, 'A');
    return stub_->Detokenize(&context, request, response);
  }

  // The server's log line that carries `request_id` ("" if none within 30 s).
  std::string LogLineOf(const std::string& request_id) {
    const std::string key = absl::StrCat("request_id=", request_id, " ");
    if (!server_->WaitForLog(key, absl::Seconds(30))) return "";
    for (absl::string_view line : absl::StrSplit(server_->Log(), '\n')) {
      if (absl::StrContains(line, key)) return std::string(line);
    }
    return "";
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<rwkv::v1::Rwkv::Stub> stub_;
};

// INVALID_ARGUMENT whose message names `field` and the limit.
::testing::Matcher<const grpc::Status&> OverLimit(const std::string& field, int64_t limit) {
  return ::testing::AllOf(
      ::testing::Property(&grpc::Status::error_code, StatusCode::INVALID_ARGUMENT),
      ::testing::Property(
          &grpc::Status::error_message,
          AllOf(HasSubstr(field), HasSubstr(absl::StrCat("more than the limit of ", limit)))));
}

// The SETTINGS the server sends on a new HTTP/2 connection to 127.0.0.1:`port` (id -> value),
// or nullopt when none arrives within 10 s.
std::optional<std::map<int, uint32_t>> ServerSettings(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::optional<std::map<int, uint32_t>> settings;
  // The client preface, then an empty SETTINGS frame (length 0, type 4, flags 0, stream 0).
  const std::string hello =
      std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\4\0\0\0\0\0", 9);
  auto read_exactly = [fd](size_t n) -> std::optional<std::string> {
    std::string out(n, '\0');
    for (size_t got = 0; got < n;) {
      const ssize_t r = read(fd, out.data() + got, n - got);
      if (r <= 0) return std::nullopt;  // closed, or the 10 s receive timeout
      got += static_cast<size_t>(r);
    }
    return out;
  };
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      write(fd, hello.data(), hello.size()) == static_cast<ssize_t>(hello.size())) {
    for (int frame = 0; frame < 8 && !settings.has_value(); ++frame) {
      std::optional<std::string> header = read_exactly(9);
      if (!header.has_value()) break;
      const auto byte = [&](int i) { return static_cast<uint8_t>((*header)[i]); };
      const size_t length = (size_t{byte(0)} << 16) | (size_t{byte(1)} << 8) | byte(2);
      std::optional<std::string> payload = read_exactly(length);
      if (!payload.has_value()) break;
      if (byte(3) != 4 || (byte(4) & 1) != 0) continue;  // not SETTINGS, or an ACK
      settings.emplace();
      for (size_t i = 0; i + 6 <= payload->size(); i += 6) {
        const auto p = [&](size_t k) {
          return static_cast<uint32_t>(static_cast<uint8_t>((*payload)[i + k]));
        };
        (*settings)[static_cast<int>((p(0) << 8) | p(1))] =
            (p(2) << 24) | (p(3) << 16) | (p(4) << 8) | p(5);
      }
    }
  }
  close(fd);
  return settings;
}

constexpr int kSettingsMaxConcurrentStreams = 3;

TEST_F(LimitsE2eTest, EveryOpenEndedFieldIsBounded) {
  Start();

  // stop_tokens: 10,000 instead of at most 64.
  rwkv::v1::GenerateRequest stops = GreedyRequest("hi", 4);
  for (int i = 0; i < 10'000; ++i) stops.mutable_stop()->add_stop_tokens(i % 256);
  EXPECT_THAT(Generate(*stub_, stops).status, OverLimit("stop.stop_tokens", kMaxStopTokens));

  // logit_bias: 2,000 entries instead of at most 1024.
  rwkv::v1::GenerateRequest biased = GreedyRequest("hi", 4);
  for (int i = 0; i < 2000; ++i) (*biased.mutable_sampling()->mutable_logit_bias())[i] = 1;
  EXPECT_THAT(Generate(*stub_, biased).status, OverLimit("sampling.logit_bias", kMaxLogitBias));

  // Detokenize: about 4 MB of IDs (which would decode to 4 MB of text) instead of one turn's.
  rwkv::v1::DetokenizeResponse text;
  EXPECT_THAT(Detokenize(4'000'000, &text), OverLimit("token_ids", kMaxDetokenizeIds));
  ASSERT_TRUE(Detokenize(kMaxDetokenizeIds, &text).ok());
  EXPECT_EQ(text.text(), std::string(kMaxDetokenizeIds, 'A'));

  // Text: 6 MiB passes gRPC's size check (8 MiB by default, so not gRPC's implicit 4 MiB) and
  // is refused by the 1 MiB text limit; 9 MiB is refused by gRPC itself.
  EXPECT_THAT(Tokenize(std::string(6 * kMiB, 'a')), OverLimit("text", kMiB));
  EXPECT_THAT(Generate(*stub_, GreedyRequest(std::string(kMiB + 1, 'a'), 4)).status,
              OverLimit("text", kMiB));
  EXPECT_EQ(Tokenize(std::string(9 * kMiB, 'a')).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Tokenize(std::string(kMiB, 'a')).ok());

  // Metadata: 17 entries instead of at most 16.
  {
    grpc::ClientContext context;
    Prepare(context);
    rwkv::v1::CreateSessionRequest create;
    for (int i = 0; i < 17; ++i) (*create.mutable_metadata())[absl::StrCat("k", i)] = "v";
    rwkv::v1::Session session;
    const grpc::Status status = stub_->CreateSession(&context, create, &session);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("metadata"));
  }
  // page_token: a 4 MB one.
  {
    grpc::ClientContext context;
    Prepare(context);
    rwkv::v1::ListSessionsRequest list;
    list.set_page_token(std::string(4'000'000, 'p'));
    rwkv::v1::ListSessionsResponse page;
    const grpc::Status status = stub_->ListSessions(&context, list, &page);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
  }

  // The streams a connection may open: 256 by default, advertised in HTTP/2 SETTINGS.
  std::optional<std::map<int, uint32_t>> settings = ServerSettings(server_->port());
  ASSERT_TRUE(settings.has_value()) << "no SETTINGS frame from the server";
  EXPECT_EQ((*settings)[kSettingsMaxConcurrentStreams], 256u);

  // Still serving.
  const StreamResult healthy = Generate(*stub_, GreedyRequest("still alive?", 4));
  EXPECT_TRUE(healthy.status.ok()) << healthy.status.error_message();
  EXPECT_TRUE(healthy.has_done);
  EXPECT_EQ((*server_).Terminate(absl::Seconds(30)), 0);
}

TEST_F(LimitsE2eTest, HugeSessionIdsAreRefusedAndLoggedShort) {
  Start();
  const std::string huge(4'000'000, 'x');  // 4 MB: a valid ID has at most 128 characters

  grpc::ClientContext get_context;
  Prepare(get_context, "limits-get-huge");
  rwkv::v1::GetSessionRequest get;
  get.set_session_id(huge);
  rwkv::v1::Session session;
  const grpc::Status got = stub_->GetSession(&get_context, get, &session);
  EXPECT_EQ(got.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(got.error_message(), HasSubstr("session_id"));
  EXPECT_LT(got.error_message().size(), 1024u);

  grpc::ClientContext delete_context;
  Prepare(delete_context, "limits-delete-huge");
  rwkv::v1::DeleteSessionRequest remove;
  remove.set_session_id(huge);
  rwkv::v1::DeleteSessionResponse removed;
  EXPECT_EQ(stub_->DeleteSession(&delete_context, remove, &removed).error_code(),
            StatusCode::INVALID_ARGUMENT);

  const StreamResult generated = Generate(*stub_, GreedyRequest("hi", 4, huge));
  EXPECT_EQ(generated.status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(generated.status.error_message(), HasSubstr("session_id"));

  // The log keeps the first 64 bytes and the size, not 4 MB.
  for (const std::string id : {"limits-get-huge", "limits-delete-huge"}) {
    const std::string line = LogLineOf(id);
    ASSERT_FALSE(line.empty()) << "no log line for " << id;
    EXPECT_LT(line.size(), 1024u) << line.substr(0, 1024);
    EXPECT_THAT(line, HasSubstr(absl::StrCat(" session=", std::string(64, 'x'),
                                             "...(4000000 bytes) status=INVALID_ARGUMENT")));
  }
  EXPECT_LT(server_->Log().size(), 64u * 1024) << "the log grew by megabytes";

  const StreamResult healthy = Generate(*stub_, GreedyRequest("still alive?", 4, "chat-1"));
  EXPECT_TRUE(healthy.status.ok()) << healthy.status.error_message();
  EXPECT_EQ((*server_).Terminate(absl::Seconds(30)), 0);
}

TEST_F(LimitsE2eTest, FlagsSetTheMessageAndStreamLimits) {
  Start({"--max-request-bytes", "65536", "--max-streams-per-connection", "7"});
  EXPECT_EQ(Tokenize(std::string(100'000, 'a')).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Tokenize(std::string(60'000, 'a')).ok());
  std::optional<std::map<int, uint32_t>> settings = ServerSettings(server_->port());
  ASSERT_TRUE(settings.has_value()) << "no SETTINGS frame from the server";
  EXPECT_EQ((*settings)[kSettingsMaxConcurrentStreams], 7u);
  EXPECT_TRUE(Generate(*stub_, GreedyRequest("hi", 4)).status.ok());
  EXPECT_EQ((*server_).Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
