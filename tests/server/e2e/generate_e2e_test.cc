// End to end: the real rwkv-server on 127.0.0.1, real gRPC, the tiny RWKV-7 model.
// Streams must equal rwkv-generate and the in-process engine; sessions must resume exactly,
// also after the server is SIGKILLed; concurrent streams must not affect each other.
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"
#include "tests/server/e2e/rpc_util.h"
#include "tests/server/e2e/server_process.h"
#include "tests/util/run_command.h"
#include "tests/util/shared_data.h"

namespace rwkv::testing {
namespace {

using rwkv::v1::Rwkv;

const char kPromptA[] = "The quick brown fox";
const char kPromptB[] = " jumps over the lazy dog.";

std::string TempStore(const std::string& name) {
  const std::string dir = UniqueTempPath(name);
  std::filesystem::remove_all(dir);
  return "rocksdb:" + dir;
}

// rwkv-generate's greedy output for a prompt, as token IDs (byte-level model).
std::vector<int32_t> GenerateToolTokens(const std::string& prompt, int max_tokens) {
  const std::string command = absl::StrCat(GenerateBinary(), " --model ", TinyModel(),
                                           " --prompt '", prompt, "' --max-tokens ", max_tokens,
                                           " --temperature 0 --threads 1 --precision f32 2>/dev/null");
  std::string out = RunCommand(command).output;
  if (!out.empty() && out.back() == '\n') out.pop_back();  // rwkv-generate ends with a newline
  return Bytes(out);
}

class GenerateE2eTest : public ::testing::Test {
 protected:
  void StartServer(const std::string& store, const std::string& precision = "f32") {
    auto server = ServerProcess::Start(
        {"--model", TinyModel(), "--state-store", store, "--precision", precision});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = Rwkv::NewStub(server_->Channel());
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rwkv::Stub> stub_;
};

TEST_F(GenerateE2eTest, GreedyStreamEqualsRwkvGenerate) {
  StartServer("memory:");
  const StreamResult result = Generate(*stub_, GreedyRequest(kPromptA, 48));
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.tokens, GenerateToolTokens(kPromptA, 48));
  ASSERT_TRUE(result.has_done);
  EXPECT_EQ(result.done.finish_reason(), rwkv::v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(result.done.usage().generated_tokens(), 48);
  EXPECT_EQ(result.done.usage().prompt_tokens(), static_cast<int>(sizeof(kPromptA) - 1));
  EXPECT_GT(result.messages, 2);  // streamed, not sent at the end
}

// The fast precisions serve exactly what the engine computes in that precision.
TEST_F(GenerateE2eTest, ReducedPrecisionStreamsEqualTheEngine) {
  for (const char* precision : {"bf16", "int8"}) {
    StartServer("memory:", precision);
    const StreamResult result = Generate(*stub_, GreedyRequest(kPromptA, 32));
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.tokens,
              LocalGreedy(TinyModel(), Bytes(kPromptA), 32, *engine::ParsePrecision(precision)))
        << precision;
  }
}

// Turn 1 (A) then turn 2 (B) on one session == one run over A + completion + B.
void ExpectResumeIsExact(Rwkv::Stub& stub_turn1, std::function<Rwkv::Stub&()> stub_turn2) {
  const StreamResult turn1 = Generate(stub_turn1, GreedyRequest(kPromptA, 20, "resume-1"));
  ASSERT_TRUE(turn1.status.ok()) << turn1.status.error_message();
  EXPECT_EQ(turn1.done.session().version(), 1);
  const StreamResult turn2 = Generate(stub_turn2(), GreedyRequest(kPromptB, 20, "resume-1"));
  ASSERT_TRUE(turn2.status.ok()) << turn2.status.error_message();
  EXPECT_EQ(turn2.done.session().version(), 2);
  std::vector<int32_t> whole = Bytes(kPromptA);
  whole.insert(whole.end(), turn1.tokens.begin(), turn1.tokens.end());
  const std::vector<int32_t> b = Bytes(kPromptB);
  whole.insert(whole.end(), b.begin(), b.end());
  EXPECT_EQ(turn2.tokens, LocalGreedy(TinyModel(), whole, 20));
  EXPECT_EQ(turn2.done.session().token_count(), static_cast<int64_t>(whole.size()) + 20);
}

TEST_F(GenerateE2eTest, ResumeIsExact) {
  StartServer("memory:");
  ExpectResumeIsExact(*stub_, [this]() -> Rwkv::Stub& { return *stub_; });
}

TEST_F(GenerateE2eTest, ResumeIsExactAfterSigkill) {
  const std::string store = TempStore("resume-after-kill");
  StartServer(store);
  ExpectResumeIsExact(*stub_, [this, store]() -> Rwkv::Stub& {
    server_->Kill();
    StartServer(store);
    return *stub_;
  });
}

TEST_F(GenerateE2eTest, ConcurrentStreamsEqualTheirSoloRuns) {
  StartServer("memory:");
  constexpr int kStreams = 32;
  std::vector<std::string> prompts;
  for (int i = 0; i < kStreams; ++i) {
    prompts.push_back(absl::StrCat("Stream ", i, ": the ", i % 2 ? "lazy dog" : "quick fox"));
  }
  std::vector<StreamResult> results(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      results[i] = Generate(*stub_, GreedyRequest(prompts[i], 24, absl::StrCat("c-", i)));
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    ASSERT_TRUE(results[i].status.ok()) << i << ": " << results[i].status.error_message();
    EXPECT_EQ(results[i].tokens, LocalGreedy(TinyModel(), Bytes(prompts[i]), 24)) << i;
  }
}

// Many short turns at once: reactors finish while others stream (a reactor may be destroyed
// inline by gRPC when it finishes; this once crashed the server under load).
TEST_F(GenerateE2eTest, ManyConcurrentTurnsAllSucceed) {
  StartServer("memory:");
  constexpr int kUsers = 32;
  constexpr int kTurns = 8;
  // Per user, what each failed turn got: the status, whether its Done came, the version.
  std::vector<std::string> failures(kUsers);
  std::vector<std::thread> threads;
  for (int u = 0; u < kUsers; ++u) {
    threads.emplace_back([&, u] {
      for (int t = 0; t < kTurns; ++t) {
        const StreamResult r =
            Generate(*stub_, GreedyRequest(absl::StrCat(" turn ", t), 8, absl::StrCat("u-", u)));
        if (r.status.ok() && r.has_done && r.done.session().version() == t + 1) continue;
        absl::StrAppend(&failures[u], " turn ", t, ": ", r.status.error_code(), " \"",
                        r.status.error_message(), "\" done=", r.has_done,
                        " version=", r.done.session().version(), ";");
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int u = 0; u < kUsers; ++u) EXPECT_EQ(failures[u], "") << "user " << u;
  if (HasFailure()) ADD_FAILURE() << server_->Log();
}

TEST_F(GenerateE2eTest, SecondConcurrentTurnIsAborted) {
  StartServer("memory:");
  auto long_turn = GreedyRequest(kPromptA, 4000, "busy");
  grpc::ClientContext context;
  auto reader = stub_->Generate(&context, long_turn);
  rwkv::v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));  // the turn is running
  const StreamResult second = Generate(*stub_, GreedyRequest(kPromptB, 4, "busy"));
  EXPECT_EQ(second.status.error_code(), grpc::StatusCode::ABORTED)
      << second.status.error_message();
  context.TryCancel();
  while (reader->Read(&first)) {
  }
  reader->Finish();
  // The cancelled turn was rolled back (the default policy): the session is still new.
  rwkv::v1::GetSessionRequest get;
  get.set_session_id("busy");
  rwkv::v1::Session session;
  grpc::ClientContext get_context;
  // create_session makes the session exist only once a turn commits.
  EXPECT_EQ(stub_->GetSession(&get_context, get, &session).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(GenerateE2eTest, ForkedBranchesEvolveIndependently) {
  StartServer("memory:");
  const StreamResult base = Generate(*stub_, GreedyRequest(kPromptA, 10, "trunk"));
  ASSERT_TRUE(base.status.ok());
  rwkv::v1::ForkSessionRequest fork;
  fork.set_source_session_id("trunk");
  fork.set_new_session_id("branch");
  rwkv::v1::Session forked;
  grpc::ClientContext fork_context;
  ASSERT_TRUE(stub_->ForkSession(&fork_context, fork, &forked).ok());
  EXPECT_EQ(forked.token_count(), base.done.session().token_count());

  const StreamResult on_trunk = Generate(*stub_, GreedyRequest(" and then", 12, "trunk"));
  const StreamResult on_branch = Generate(*stub_, GreedyRequest(" but later", 12, "branch"));
  ASSERT_TRUE(on_trunk.status.ok() && on_branch.status.ok());
  std::vector<int32_t> history = Bytes(kPromptA);
  history.insert(history.end(), base.tokens.begin(), base.tokens.end());
  auto expect = [&](const std::string& text) {
    std::vector<int32_t> tokens = history;
    for (int32_t t : Bytes(text)) tokens.push_back(t);
    return LocalGreedy(TinyModel(), tokens, 12);
  };
  EXPECT_EQ(on_trunk.tokens, expect(" and then"));
  EXPECT_EQ(on_branch.tokens, expect(" but later"));
}

}  // namespace
}  // namespace rwkv::testing
