// ReplicasFixture: several rwkv-server processes ("replicas") sharing one real redis-server on
// 127.0.0.1, for the multi-replica end-to-end tests.
//
//   class MyTest : public ReplicasFixture {};
//   TEST_F(MyTest, X) {
//     std::unique_ptr<ServerProcess> a = StartReplica("replica-a");
//     ASSERT_NE(a, nullptr);
//     auto stub = Rwkv::NewStub(a->Channel());
//     ...
//   }
//
// SetUp skips the test when redis-server is not installed (CI installs it). Replicas run the tiny
// model in f32 (their streams compare exactly with LocalGreedy), short session leases so that a
// takeover happens within seconds, and frequent store probes.
#ifndef RWKV_TESTS_SERVER_E2E_REPLICAS_FIXTURE_H_
#define RWKV_TESTS_SERVER_E2E_REPLICAS_FIXTURE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rwkv/v1/rwkv.grpc.pb.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/redis_server.h"

namespace rwkv::testing {

// What every replica's session lease lasts unless a test says otherwise: long enough for a
// loaded machine to renew it (every third), short enough for a takeover test to wait out.
inline constexpr absl::Duration kLeaseTtl = absl::Seconds(2);

class ReplicasFixture : public ::testing::Test {
 protected:
  void SetUp() override;

  // Starts a replica named `name` on the shared Redis (nullptr, with a test failure, if it does
  // not start); `extra` flags go last and win.
  std::unique_ptr<ServerProcess> StartReplica(const std::string& name,
                                              const std::vector<std::string>& extra = {});

  RedisServer& redis() { return *redis_; }

 private:
  std::unique_ptr<RedisServer> redis_;
};


// A streamed turn the test reads at its own pace: started on a channel of its own with a small
// flow-control window, so that the server, once a few hundred tokens are unread, pauses the
// turn (still holding its session) until the test reads on.
class OpenStream {
 public:
  OpenStream(const ServerProcess& server, const rwkv::v1::GenerateRequest& request);
  ~OpenStream();  // cancels the stream if it was not read to the end

  // Reads until the first token arrived (false if the stream ended first): the turn has its
  // session and is generating.
  bool AwaitFirstToken();
  // Reads the rest of the stream and returns everything it carried.
  StreamResult Finish();

 private:
  bool ReadOne();

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<rwkv::v1::Rwkv::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<rwkv::v1::GenerateResponse>> reader_;
  StreamResult result_;
  bool finished_ = false;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_SERVER_E2E_REPLICAS_FIXTURE_H_
