// ServerMetrics (requests by method and code, gauges sampled per scrape, build and model info)
// and HttpEndpoint (/metrics, /healthz, /readyz on port 0).
#include "server/metrics/server_metrics.h"

#include <atomic>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "server/metrics/http_endpoint.h"
#include "server/metrics/request_metrics.h"
#include "tests/server/metrics/metric_values.h"
#include "tests/util/http_get.h"
#include "tests/util/shared_data.h"

namespace rwkv::server::metrics {
namespace {

using rwkv::testing::HistogramCount;
using rwkv::testing::HistogramSum;
using rwkv::testing::HttpGet;
using rwkv::testing::MetricValue;

// Requests and tokens by tenant: only for the tenants set (those of the tokens file), so that no
// caller can add a label value; the default tenant is "default".
TEST(RequestMetricsTest, CountsByTenantOnlyForKnownTenants) {
  prometheus::Registry registry;
  RequestMetrics metrics(registry);
  metrics.tenants().SetTenants({"acme", "beta"});
  auto requests = [&](const char* tenant, const char* method) {
    return MetricValue(registry, "rwkv_tenant_requests_total",
                       {{"tenant", tenant}, {"method", method}});
  };
  auto tokens = [&](const char* name, const char* tenant) {
    return MetricValue(registry, name, {{"tenant", tenant}});
  };
  EXPECT_EQ(requests("beta", "GetModelInfo"), 0);  // every series at zero from the start
  EXPECT_EQ(tokens("rwkv_tenant_generated_tokens_total", "beta"), 0);
  metrics.OnTenantRequest("acme", "Generate", 12, 64);
  metrics.OnTenantRequest("acme", "Generate", 3, 0);
  metrics.OnTenantRequest("acme", "GetSession", -1, -1);
  metrics.OnTenantRequest("intruder", "Generate", 5, 5);  // not in the file: no series
  EXPECT_EQ(requests("acme", "Generate"), 2);
  EXPECT_EQ(requests("acme", "GetSession"), 1);
  EXPECT_EQ(tokens("rwkv_tenant_prompt_tokens_total", "acme"), 15);
  EXPECT_EQ(tokens("rwkv_tenant_generated_tokens_total", "acme"), 64);
  EXPECT_EQ(requests("intruder", "Generate"), -1);

  // A reload that drops acme: its series stay (counters never go back) but count no more.
  metrics.tenants().SetTenants({"beta", ""});
  metrics.OnTenantRequest("acme", "Generate", 1, 1);
  metrics.OnTenantRequest("", "Tokenize", -1, -1);
  EXPECT_EQ(requests("acme", "Generate"), 2);
  EXPECT_EQ(requests("default", "Tokenize"), 1);
}

TEST(RequestMetricsTest, CountsAuthFailuresByReason) {
  prometheus::Registry registry;
  RequestMetrics metrics(registry);
  for (const char* reason : {"missing", "malformed", "unknown_token"}) {
    EXPECT_EQ(MetricValue(registry, "rwkv_auth_failures_total", {{"reason", reason}}), 0);
  }
  metrics.OnAuthFailure("unknown_token");
  metrics.OnAuthFailure("unknown_token");
  metrics.OnAuthFailure("missing");
  metrics.OnAuthFailure("whatever");  // not a reason: no new series
  EXPECT_EQ(MetricValue(registry, "rwkv_auth_failures_total", {{"reason", "unknown_token"}}), 2);
  EXPECT_EQ(MetricValue(registry, "rwkv_auth_failures_total", {{"reason", "missing"}}), 1);
  EXPECT_EQ(MetricValue(registry, "rwkv_auth_failures_total", {{"reason", "whatever"}}), -1);
}

TEST(RequestMetricsTest, CountsByMethodAndCode) {
  prometheus::Registry registry;
  RequestMetrics metrics(registry);
  // Every method's series exists for every code before any request.
  EXPECT_EQ(MetricValue(registry, "rwkv_requests_total", {{"method", "ForkSession"}, {"code", "OK"}}),
            0);
  for (const char* method : {"Generate", "CreateSession", "GetSession", "ListSessions",
                             "DeleteSession", "ForkSession", "Tokenize", "Detokenize",
                             "GetModelInfo"}) {
    EXPECT_EQ(MetricValue(registry, "rwkv_requests_total", {{"method", method}, {"code", "OK"}}),
              0)
        << method;
  }
  EXPECT_EQ(MetricValue(registry, "rwkv_requests_total",
                        {{"method", "GetSession"}, {"code", "NOT_FOUND"}}),
            0);
  EXPECT_EQ(MetricValue(registry, "rwkv_requests_total",
                        {{"method", "Generate"}, {"code", "UNAUTHENTICATED"}}),
            0);
  for (int i = 0; i < 3; ++i) {
    metrics.OnRequest("Generate", absl::StatusCode::kOk, absl::Milliseconds(100));
  }
  metrics.OnRequest("Generate", absl::StatusCode::kCancelled, absl::Milliseconds(50));
  metrics.OnRequest("GetSession", absl::StatusCode::kNotFound, absl::Milliseconds(1));
  metrics.OnRequest("GetSession", absl::StatusCode::kNotFound, absl::Milliseconds(1));
  auto requests = [&](const char* method, const char* code) {
    return MetricValue(registry, "rwkv_requests_total", {{"method", method}, {"code", code}});
  };
  EXPECT_EQ(requests("Generate", "OK"), 3);
  EXPECT_EQ(requests("Generate", "CANCELLED"), 1);
  EXPECT_EQ(requests("GetSession", "NOT_FOUND"), 2);
  EXPECT_EQ(requests("GetSession", "OK"), 0);
  EXPECT_EQ(HistogramCount(registry, "rwkv_request_duration_seconds", {{"method", "Generate"}}), 4);
  EXPECT_NEAR(HistogramSum(registry, "rwkv_request_duration_seconds", {{"method", "Generate"}}),
              0.35, 1e-9);
}

TEST(ServerMetricsTest, ExpositionHasBuildModelAndLiveGauges) {
  ServerMetrics metrics;
  std::string text = metrics.Serialize();
  EXPECT_TRUE(absl::StrContains(text, "rwkv_build_info{")) << text;
  EXPECT_TRUE(absl::StrContains(text, "rwkv_ready 0")) << text;
  EXPECT_FALSE(absl::StrContains(text, "rwkv_model_info")) << text;

  auto engine = engine::Engine::Create(
      {rwkv::testing::SharedPath("models/tiny-rwkv-7v0-834K-FP32.bin"), 1});
  ASSERT_TRUE(engine.ok()) << engine.status();
  metrics.SetModel(**engine);
  metrics.SetReady(true);
  metrics.SetLiveSource([] { return ServerMetrics::Live{3, 4, 5, 6000, 7, 8000}; });
  metrics.SetInflightStateLimit(9000);
  text = metrics.Serialize();
  const std::string info = absl::StrCat(
      "rwkv_model_info{embedding=\"", (*engine)->config().n_embed, "\",fingerprint=\"",
      (*engine)->fingerprint(), "\",layers=\"", (*engine)->config().n_layer,
      "\",precision=\"f32\",version=\"7\",vocab=\"256\"} 1");
  EXPECT_TRUE(absl::StrContains(text, info)) << text;
  for (const char* line :
       {"rwkv_ready 1", "rwkv_running_sequences 3", "rwkv_waiting_sequences 4",
        "rwkv_live_sessions 5", "rwkv_hot_cache_bytes 6000", "rwkv_hot_cache_entries 7",
        "rwkv_inflight_state_bytes 8000", "rwkv_inflight_state_bytes_limit 9000"}) {
    EXPECT_TRUE(absl::StrContains(text, absl::StrCat(line, "\n"))) << line << "\n" << text;
  }
  EXPECT_EQ(MetricValue(metrics.registry(), "rwkv_session_state_bytes"),
            (*engine)->config().StateBytes());
  // Without a source the gauges keep their last values.
  metrics.SetLiveSource(nullptr);
  EXPECT_TRUE(absl::StrContains(metrics.Serialize(), "rwkv_running_sequences 3\n"));
}

TEST(HttpEndpointTest, ServesMetricsLivenessAndReadiness) {
  std::atomic<bool> ready{false};
  HttpEndpoint::Options options;
  options.address = "127.0.0.1:0";
  options.metrics = [] { return std::string("rwkv_test_metric 42\n"); };
  options.ready = [&ready] { return ready.load(); };
  auto endpoint = HttpEndpoint::Start(options);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  const int port = (*endpoint)->port();
  ASSERT_GT(port, 0);

  auto metrics = HttpGet(port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->body, "rwkv_test_metric 42\n");
  EXPECT_EQ(HttpGet(port, "/healthz")->status, 200);
  EXPECT_EQ(HttpGet(port, "/readyz")->status, 503);
  ready = true;
  EXPECT_EQ(HttpGet(port, "/readyz")->status, 200);
  EXPECT_EQ(HttpGet(port, "/nothing-here")->status, 404);

  // The port is taken now.
  options.address = absl::StrCat("127.0.0.1:", port);
  EXPECT_EQ(HttpEndpoint::Start(options).status().code(), absl::StatusCode::kUnavailable);
  endpoint->reset();
  EXPECT_EQ(HttpGet(port, "/healthz").status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpEndpointTest, RejectsMalformedAddresses) {
  for (const char* address : {"", "9464", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000"}) {
    HttpEndpoint::Options options;
    options.address = address;
    options.metrics = [] { return std::string(); };
    options.ready = [] { return true; };
    EXPECT_EQ(HttpEndpoint::Start(options).status().code(), absl::StatusCode::kInvalidArgument)
        << address;
  }
}

}  // namespace
}  // namespace rwkv::server::metrics
