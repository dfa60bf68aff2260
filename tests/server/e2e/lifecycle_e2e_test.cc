// End to end: cancellation, back-pressure, queue limits, graceful drain on SIGTERM, and the
// session RPCs.
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/http_get.h"
#include "tests/util/shared_data.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

using grpc::StatusCode;
using rwkv::v1::Rwkv;

class LifecycleE2eTest : public ::testing::Test {
 protected:
  void Start(const std::string& store, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--model", TinyModel(), "--state-store", store};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = ServerProcess::Start(args);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Rwkv::NewStub(server_->Channel());
  }

  rwkv::v1::Session GetSession(const std::string& id, grpc::Status* status = nullptr) {
    grpc::ClientContext context;
    Bound(context);
    rwkv::v1::GetSessionRequest request;
    request.set_session_id(id);
    rwkv::v1::Session session;
    grpc::Status s = stub_->GetSession(&context, request, &session);
    if (status != nullptr) *status = s;
    return session;
  }

  // Reads `messages` deltas of a long stream, then cancels it; returns the tokens received.
  std::vector<int32_t> StreamThenCancel(const rwkv::v1::GenerateRequest& request, int messages) {
    grpc::ClientContext context;
    Bound(context);
    auto reader = stub_->Generate(&context, request);
    rwkv::v1::GenerateResponse response;
    std::vector<int32_t> tokens;
    for (int i = 0; i < messages && reader->Read(&response); ++i) {
      tokens.insert(tokens.end(), response.delta().token_ids().begin(),
                    response.delta().token_ids().end());
    }
    context.TryCancel();
    while (reader->Read(&response)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), StatusCode::CANCELLED);
    return tokens;
  }

  // The server's /metrics exposition ("" when it does not answer).
  std::string Metrics() {
    absl::StatusOr<HttpResponse> response = HttpGet(server_->metrics_port(), "/metrics");
    return response.ok() ? response->body : "";
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rwkv::Stub> stub_;
};

TEST_F(LifecycleE2eTest, CancelledTurnIsRolledBackByDefault) {
  Start("memory:");
  ASSERT_TRUE(Generate(*stub_, GreedyRequest("Once upon a time", 8, "story")).status.ok());
  const rwkv::v1::Session before = GetSession("story");
  // Another stream runs alongside and must not notice.
  StreamResult other;
  std::thread bystander([&] { other = Generate(*stub_, GreedyRequest("Meanwhile", 200)); });
  StreamThenCancel(GreedyRequest(" there was", 4000, "story"), 3);
  bystander.join();
  ASSERT_TRUE(other.status.ok()) << other.status.error_message();
  EXPECT_EQ(other.tokens, LocalGreedy(TinyModel(), Bytes("Meanwhile"), 200));
  const rwkv::v1::Session after = GetSession("story");
  EXPECT_EQ(after.version(), before.version());
  EXPECT_EQ(after.token_count(), before.token_count());
}

TEST_F(LifecycleE2eTest, CancelledTurnWithKeepKeepsWhatWasStreamed) {
  Start("memory:");
  rwkv::v1::GenerateRequest request = GreedyRequest("Once upon a time", 4000, "kept");
  request.set_on_cancel(rwkv::v1::CANCEL_POLICY_KEEP);
  const std::vector<int32_t> streamed = StreamThenCancel(request, 5);
  ASSERT_FALSE(streamed.empty());
  // The commit happens after the cancel is noticed; poll until it lands.
  rwkv::v1::Session session;
  auto committed = [&] {
    session = GetSession("kept");
    return session.version() != 0;
  };
  ASSERT_TRUE(WaitFor(kWaitLimit, committed)) << "the kept turn was never committed";
  ASSERT_EQ(session.version(), 1);
  // The state holds the prompt and at least what we saw (the server may have streamed more
  // before it noticed the cancel); continuing it equals an uninterrupted run over that history.
  const int64_t kept_generated = session.token_count() - 16;
  ASSERT_GE(kept_generated, static_cast<int64_t>(streamed.size()));
  std::vector<int32_t> history = Bytes("Once upon a time");
  const std::vector<int32_t> full = LocalGreedy(TinyModel(), history, kept_generated);
  history.insert(history.end(), full.begin(), full.end());
  for (int32_t t : Bytes(" The end")) history.push_back(t);
  const StreamResult next = Generate(*stub_, GreedyRequest(" The end", 10, "kept"));
  ASSERT_TRUE(next.status.ok());
  EXPECT_EQ(next.tokens, LocalGreedy(TinyModel(), history, 10));
}

TEST_F(LifecycleE2eTest, ExpiredDeadlineEndsTheTurnAndRollsItBack) {
  // A turn far too long to finish within the deadline on any machine.
  Start("memory:", {"--max-new-tokens", "1000000"});
  const StreamResult expired =
      Generate(*stub_, GreedyRequest("tick tock", 1000000, "late"), absl::Milliseconds(300));
  EXPECT_EQ(expired.status.error_code(), StatusCode::DEADLINE_EXCEEDED);
  // The server notices at its next step and rolls the turn back: the session's turn slot is
  // released (ABORTED until then) and nothing was committed.
  StreamResult next;
  auto released = [&] {
    next = Generate(*stub_, GreedyRequest("tick tock", 4, "late"));
    return next.status.error_code() != StatusCode::ABORTED;
  };
  ASSERT_TRUE(WaitFor(kWaitLimit, released))
      << "the expired turn never released the session: " << next.status.error_message();
  ASSERT_TRUE(next.status.ok()) << next.status.error_message();
  EXPECT_EQ(next.done.session().version(), 1);
  EXPECT_EQ(next.done.session().token_count(), 9 + 4);
}

TEST_F(LifecycleE2eTest, FullQueueIsResourceExhaustedAtOnce) {
  // One token per step: the first request spends a long time prefilling its prompt. A
  // prefilling sequence is always runnable, so it holds the only batch slot whether or not its
  // client reads (a paused decoding sequence would not: it takes no batch capacity).
  Start("memory:", {"--max-batch-sequences", "1", "--max-queued-requests", "1",
                    "--max-batch-tokens", "1"});
  grpc::ClientContext running_context, queued_context;
  Bound(running_context);
  Bound(queued_context);
  auto running = stub_->Generate(&running_context, GreedyRequest(std::string(60000, 'a'), 4));
  rwkv::v1::GenerateResponse response;
  auto started = [&] { return absl::StrContains(Metrics(), "\nrwkv_running_sequences 1\n"); };
  ASSERT_TRUE(WaitFor(kWaitLimit, started)) << "the first request never ran:\n" << Metrics();
  auto queued = stub_->Generate(&queued_context, GreedyRequest("b", 4));
  // The queued request is accepted; wait until the server reports it waiting.
  auto waiting = [&] { return absl::StrContains(Metrics(), "\nrwkv_waiting_sequences 1\n"); };
  ASSERT_TRUE(WaitFor(kWaitLimit, waiting)) << "the server never reported the request waiting:\n"
                                            << Metrics();
  const StreamResult rejected = Generate(*stub_, GreedyRequest("c", 4));
  EXPECT_EQ(rejected.status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  running_context.TryCancel();
  while (running->Read(&response)) {
  }
  running->Finish();
  while (queued->Read(&response)) {
  }
  EXPECT_TRUE(queued->Finish().ok());
}

TEST_F(LifecycleE2eTest, SigtermDrainsActiveStreamsAndKeepsSessionsIntact) {
  const std::string dir = UniqueTempPath("drain");
  std::filesystem::remove_all(dir);
  Start("rocksdb:" + dir, {"--drain-timeout", "60s"});
  constexpr int kStreams = 8;
  std::vector<StreamResult> results(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Generate(*stub_, GreedyRequest(absl::StrCat("Drain ", i), 300,
                                                  absl::StrCat("d-", i)));
    });
  }
  absl::SleepFor(absl::Milliseconds(200));  // the streams are running
  EXPECT_EQ(server_->Terminate(absl::Seconds(90)), 0) << server_->Log();
  for (auto& t : threads) t.join();
  // Every stream either finished (committed) or was refused before it started; none is left
  // half-written: after a restart each session is readable and resumes.
  Start("rocksdb:" + dir);
  for (int i = 0; i < kStreams; ++i) {
    const std::string id = absl::StrCat("d-", i);
    if (results[i].status.ok()) {
      EXPECT_EQ(results[i].tokens.size(), 300u);
      grpc::Status status;
      const rwkv::v1::Session session = GetSession(id, &status);
      ASSERT_TRUE(status.ok()) << id << ": " << status.error_message();
      EXPECT_EQ(session.version(), 1);
    } else {
      EXPECT_EQ(results[i].status.error_code(), StatusCode::UNAVAILABLE);
    }
    const StreamResult again = Generate(*stub_, GreedyRequest(" more", 4, id));
    EXPECT_TRUE(again.status.ok()) << id << ": " << again.status.error_message();
  }
}

TEST_F(LifecycleE2eTest, SessionRpcs) {
  Start("memory:");
  grpc::ClientContext c1;
  Bound(c1);
  rwkv::v1::CreateSessionRequest create;
  create.set_session_id("s-1");
  (*create.mutable_metadata())["user"] = "ada";
  rwkv::v1::Session created;
  ASSERT_TRUE(stub_->CreateSession(&c1, create, &created).ok());
  EXPECT_EQ(created.version(), 0);
  EXPECT_EQ(created.metadata().at("user"), "ada");
  grpc::ClientContext c2;
  Bound(c2);
  rwkv::v1::Session again;
  EXPECT_EQ(stub_->CreateSession(&c2, create, &again).error_code(), StatusCode::ALREADY_EXISTS);

  for (int i = 0; i < 5; ++i) {
    rwkv::v1::GenerateRequest r = GreedyRequest("x", 2, absl::StrCat("p-", i));
    ASSERT_TRUE(Generate(*stub_, r).status.ok());
  }
  std::vector<std::string> listed;
  std::string token;
  do {
    grpc::ClientContext c;
    Bound(c);
    rwkv::v1::ListSessionsRequest list;
    list.set_page_size(2);
    list.set_page_token(token);
    rwkv::v1::ListSessionsResponse page;
    ASSERT_TRUE(stub_->ListSessions(&c, list, &page).ok());
    for (const auto& s : page.sessions()) listed.push_back(s.id());
    token = page.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(listed, (std::vector<std::string>{"p-0", "p-1", "p-2", "p-3", "p-4", "s-1"}));

  grpc::ClientContext c3, c4;
  Bound(c3);
  Bound(c4);
  rwkv::v1::DeleteSessionRequest del;
  del.set_session_id("p-0");
  rwkv::v1::DeleteSessionResponse deleted;
  EXPECT_TRUE(stub_->DeleteSession(&c3, del, &deleted).ok());
  EXPECT_EQ(stub_->DeleteSession(&c4, del, &deleted).error_code(), StatusCode::NOT_FOUND);

  grpc::ClientContext c5, c6, c7;
  Bound(c5);
  Bound(c6);
  Bound(c7);
  rwkv::v1::TokenizeRequest tok;
  tok.set_text("\"in");
  rwkv::v1::TokenizeResponse ids;
  ASSERT_TRUE(stub_->Tokenize(&c5, tok, &ids).ok());
  EXPECT_EQ(std::vector<int32_t>(ids.token_ids().begin(), ids.token_ids().end()),
            (std::vector<int32_t>{34, 105, 110}));
  rwkv::v1::DetokenizeRequest detok;
  detok.mutable_token_ids()->CopyFrom(ids.token_ids());
  rwkv::v1::DetokenizeResponse text;
  ASSERT_TRUE(stub_->Detokenize(&c6, detok, &text).ok());
  EXPECT_EQ(text.text(), "\"in");
  rwkv::v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&c7, rwkv::v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.version(), "7");
  EXPECT_EQ(info.vocab_size(), 256);
  EXPECT_EQ(info.state_bytes(), 202752);
  EXPECT_EQ(info.fingerprint().size(), 16u);
}

}  // namespace
}  // namespace rwkv::testing
