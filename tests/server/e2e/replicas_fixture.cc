#include "tests/server/e2e/replicas_fixture.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rwkv::testing {

void ReplicasFixture::SetUp() {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  if (absl::IsFailedPrecondition(redis.status())) {
    GTEST_SKIP() << "no Redis to share between replicas: " << redis.status().message();
  }
  ASSERT_TRUE(redis.ok()) << redis.status();
  redis_ = *std::move(redis);
}

std::unique_ptr<ServerProcess> ReplicasFixture::StartReplica(
    const std::string& name, const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--model",
                                   TinyModel(),
                                   "--state-store",
                                   redis_->uri(),
                                   "--replica-name",
                                   name,
                                   "--session-lease-ttl",
                                   absl::FormatDuration(kLeaseTtl),
                                   "--store-probe-interval",
                                   "200ms"};
  args.insert(args.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(args);
  if (!server.ok()) {
    ADD_FAILURE() << name << " did not start: " << server.status();
    return nullptr;
  }
  return *std::move(server);
}

OpenStream::OpenStream(const ServerProcess& server, const rwkv::v1::GenerateRequest& request)
    : channel_(FreshChannel(server.Address(), /*small_window=*/true)),
      stub_(rwkv::v1::Rwkv::NewStub(channel_)) {
  Bound(context_);
  reader_ = stub_->Generate(&context_, request);
}

OpenStream::~OpenStream() {
  if (finished_) return;
  context_.TryCancel();
  rwkv::v1::GenerateResponse response;
  while (reader_->Read(&response)) {
  }
  reader_->Finish();
}

bool OpenStream::ReadOne() {
  rwkv::v1::GenerateResponse response;
  if (!reader_->Read(&response)) return false;
  ++result_.messages;
  if (response.has_delta()) {
    result_.text += response.delta().text();
    result_.tokens.insert(result_.tokens.end(), response.delta().token_ids().begin(),
                          response.delta().token_ids().end());
  } else if (response.has_done()) {
    result_.has_done = true;
    result_.done = response.done();
  }
  return true;
}

bool OpenStream::AwaitFirstToken() {
  while (result_.tokens.empty()) {
    if (!ReadOne()) return false;
  }
  return true;
}

StreamResult OpenStream::Finish() {
  if (!finished_) {
    while (ReadOne()) {
    }
    result_.status = reader_->Finish();
    finished_ = true;
  }
  return result_;
}

}  // namespace rwkv::testing
