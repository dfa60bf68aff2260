// Request IDs and logs end to end: every RPC returns `x-request-id` in its initial metadata (the
// client's own when it sent a valid one), the same ID is on its log line, --log-format json
// writes one JSON object per line, and /metrics counts requests by method and code.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"

namespace rwkv::testing {
namespace {

std::string RequestIdOf(const grpc::ClientContext& context) {
  const auto& metadata = context.GetServerInitialMetadata();
  auto it = metadata.find("x-request-id");
  return it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
}

bool IsHex16(const std::string& id) {
  return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The JSON log lines of `log` that name `request_id`.
std::vector<google::protobuf::Struct> LinesOf(const std::string& log, const std::string& id) {
  std::vector<google::protobuf::Struct> lines;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    google::protobuf::Struct parsed;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &parsed).ok())
        << "not a JSON line: " << line;
    auto it = parsed.fields().find("request_id");
    if (it != parsed.fields().end() && it->second.string_value() == id) lines.push_back(parsed);
  }
  return lines;
}

TEST(RequestLogE2eTest, RequestIdsInMetadataAndJsonLogLines) {
  auto server = ServerProcess::Start(
      {"--model", TinyModel(), "--state-store", "memory:", "--log-format", "json"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = rwkv::v1::Rwkv::NewStub((*server)->Channel());

  // A unary call: a new ID.
  grpc::ClientContext info_context;
  rwkv::v1::ModelInfo info;
  ASSERT_TRUE(stub->GetModelInfo(&info_context, {}, &info).ok());
  const std::string info_id = RequestIdOf(info_context);
  EXPECT_TRUE(IsHex16(info_id)) << info_id;

  // A stream with the client's own ID.
  grpc::ClientContext generate_context;
  generate_context.AddMetadata("x-request-id", "trace-42.a");
  auto reader = stub->Generate(&generate_context, GreedyRequest("Hello", 5, "s1"));
  rwkv::v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(RequestIdOf(generate_context), "trace-42.a");

  // An error, with an ID the server will not reuse.
  grpc::ClientContext missing_context;
  missing_context.AddMetadata("x-request-id", "not valid!");
  rwkv::v1::GetSessionRequest get;
  get.set_session_id("nobody");
  rwkv::v1::Session session;
  EXPECT_EQ(stub->GetSession(&missing_context, get, &session).error_code(),
            grpc::StatusCode::NOT_FOUND);
  const std::string missing_id = RequestIdOf(missing_context);
  EXPECT_TRUE(IsHex16(missing_id)) << missing_id;
  EXPECT_NE(missing_id, info_id);

  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
  const std::string log = (*server)->Log();
  const auto info_lines = LinesOf(log, info_id);
  ASSERT_EQ(info_lines.size(), 1u) << log;
  EXPECT_EQ(info_lines[0].fields().at("method").string_value(), "GetModelInfo");
  EXPECT_EQ(info_lines[0].fields().at("code").string_value(), "OK");
  const auto generate_lines = LinesOf(log, "trace-42.a");
  ASSERT_EQ(generate_lines.size(), 1u) << log;
  EXPECT_EQ(generate_lines[0].fields().at("method").string_value(), "Generate");
  EXPECT_EQ(generate_lines[0].fields().at("session").string_value(), "s1");
  EXPECT_EQ(generate_lines[0].fields().at("prompt_tokens").number_value(), 5);
  EXPECT_EQ(generate_lines[0].fields().at("generated_tokens").number_value(), 5);
  EXPECT_GT(generate_lines[0].fields().at("ms").number_value(), 0);
  const auto missing_lines = LinesOf(log, missing_id);
  ASSERT_EQ(missing_lines.size(), 1u) << log;
  EXPECT_EQ(missing_lines[0].fields().at("code").string_value(), "NOT_FOUND");
  EXPECT_TRUE(absl::StrContains(missing_lines[0].fields().at("error").string_value(), "nobody"));
}

TEST(RequestLogE2eTest, MetricsCountRequestsByMethodAndCode) {
  auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = rwkv::v1::Rwkv::NewStub((*server)->Channel());
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    rwkv::v1::GetSessionRequest get;
    get.set_session_id("nobody");
    rwkv::v1::Session session;
    EXPECT_EQ(stub->GetSession(&context, get, &session).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  ASSERT_TRUE(Generate(*stub, GreedyRequest("Hi", 3)).status.ok());
  // A text log line carries the ID as well.
  EXPECT_TRUE((*server)->WaitForLog(" Generate request_id=", absl::Seconds(10))) << (*server)->Log();

  absl::StatusOr<HttpResponse> metrics = HttpGet((*server)->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  for (const char* line :
       {"rwkv_requests_total{code=\"NOT_FOUND\",method=\"GetSession\"} 3\n",
        "rwkv_requests_total{code=\"OK\",method=\"Generate\"} 1\n",
        "rwkv_generated_tokens_total 3\n", "rwkv_prompt_tokens_total 2\n",
        "rwkv_request_duration_seconds_count{method=\"GetSession\"} 3\n", "rwkv_ready 1\n"}) {
    EXPECT_TRUE(absl::StrContains(metrics->body, line)) << line << metrics->body;
  }
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
