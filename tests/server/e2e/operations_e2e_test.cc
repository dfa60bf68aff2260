// End to end, what an operator relies on: the HTTP probes answer while idle connections are held
// open, and after a model change the old model's sessions can be listed (with their fingerprint)
// and deleted, though not resumed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "absl/time/clock.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/shared_data.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using grpc::StatusCode;

// Far above the endpoint's request timeout (2 s), below civetweb's default (30 s) that applied
// before the endpoint set one: a probe stuck behind idle connections fails instead of hanging.
constexpr absl::Duration kProbeGuard = absl::Seconds(20);

// TCP connections to 127.0.0.1:port that send nothing; closed on destruction.
class IdleConnections {
 public:
  IdleConnections(int port, int count) {
    sockaddr_in address;
    std::memset(&address, 0, sizeof(address));
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < count; ++i) {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) break;
      fds_.push_back(fd);
      if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) break;
      ++connected_;
    }
  }
  ~IdleConnections() {
    for (const int fd : fds_) close(fd);
  }
  int connected() const { return connected_; }

 private:
  std::vector<int> fds_;
  int connected_ = 0;
};

TEST(OperationsE2eTest, ProbesAnswerWhileIdleConnectionsAreHeldOpen) {
  auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:"});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->metrics_port();
  // More than the endpoint's 16 workers (and far more than the 2 it once had).
  constexpr int kIdle = 24;
  IdleConnections idle(port, kIdle);
  ASSERT_EQ(idle.connected(), kIdle);
  for (const char* path : {"/healthz", "/readyz"}) {
    absl::StatusOr<HttpResponse> probe = HttpGet(port, path, kProbeGuard);
    ASSERT_TRUE(probe.ok()) << path << ": " << probe.status() << "\n" << (*server)->Log();
    EXPECT_EQ(probe->status, 200) << path;
  }
  EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);
}

class ModelChangeE2eTest : public ::testing::Test {
 protected:
  void Start(const std::string& model) {
    auto server = ServerProcess::Start({"--model", model, "--state-store", "rocksdb:" + store_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = rwkv::v1::Rwkv::NewStub(server_->Channel());
  }

  std::string Fingerprint() {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::ModelInfo info;
    const grpc::Status status = stub_->GetModelInfo(&context, {}, &info);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return info.fingerprint();
  }

  // Every session, page by page (pages of 2).
  std::vector<rwkv::v1::Session> ListAll() {
    std::vector<rwkv::v1::Session> sessions;
    std::string token;
    for (int calls = 0; calls < 100; ++calls) {
      grpc::ClientContext context;
      Bound(context);
      rwkv::v1::ListSessionsRequest request;
      request.set_page_size(2);
      request.set_page_token(token);
      rwkv::v1::ListSessionsResponse page;
      const grpc::Status status = stub_->ListSessions(&context, request, &page);
      EXPECT_TRUE(status.ok()) << status.error_message();
      if (!status.ok()) break;
      sessions.insert(sessions.end(), page.sessions().begin(), page.sessions().end());
      token = page.next_page_token();
      if (token.empty()) break;
    }
    return sessions;
  }

  StatusCode Delete(const std::string& id) {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::DeleteSessionRequest request;
    request.set_session_id(id);
    rwkv::v1::DeleteSessionResponse response;
    return stub_->DeleteSession(&context, request, &response).error_code();
  }

  StatusCode Get(const std::string& id) {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::GetSessionRequest request;
    request.set_session_id(id);
    rwkv::v1::Session session;
    return stub_->GetSession(&context, request, &session).error_code();
  }

  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(store_);
  }

  const std::string store_ = UniqueTempPath("model-change");
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<rwkv::v1::Rwkv::Stub> stub_;
};

TEST_F(ModelChangeE2eTest, OldModelsSessionsAreListedWithTheirFingerprintAndDeletable) {
  Start(TinyModel());
  const std::string old_fingerprint = Fingerprint();
  for (const char* id : {"a-old", "b-old", "c-old"}) {
    ASSERT_TRUE(Generate(*stub_, GreedyRequest("hello", 2, id)).status.ok()) << id;
  }
  ASSERT_EQ(server_->Terminate(absl::Seconds(30)), 0);

  Start(OtherModel());
  const std::string new_fingerprint = Fingerprint();
  ASSERT_NE(new_fingerprint, old_fingerprint);
  ASSERT_TRUE(Generate(*stub_, GreedyRequest("hello", 2, "d-new")).status.ok());

  std::vector<rwkv::v1::Session> listed = ListAll();
  ASSERT_EQ(listed.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(listed[i].model_fingerprint(), old_fingerprint) << listed[i].id();
  }
  EXPECT_EQ(listed[3].id(), "d-new");
  EXPECT_EQ(listed[3].model_fingerprint(), new_fingerprint);

  // Not resumable, but deletable.
  EXPECT_EQ(Generate(*stub_, GreedyRequest("again", 2, "a-old")).status.error_code(),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Get("a-old"), StatusCode::FAILED_PRECONDITION);
  for (const char* id : {"a-old", "b-old", "c-old"}) EXPECT_EQ(Delete(id), StatusCode::OK) << id;
  EXPECT_EQ(Get("a-old"), StatusCode::NOT_FOUND);
  listed = ListAll();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id(), "d-new");
  // The ID is free for the new model.
  EXPECT_TRUE(Generate(*stub_, GreedyRequest("hello", 2, "a-old")).status.ok());
  EXPECT_EQ(Get("a-old"), StatusCode::OK);
  EXPECT_EQ(server_->Terminate(absl::Seconds(30)), 0);
}

}  // namespace
}  // namespace rwkv::testing
