#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "client/cli_args.h"
#include "client/cli_commands.h"
#include "gmock/gmock.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "tests/client/fake_rwkv_server.h"

namespace rwkv::client {
namespace {

using ::testing::ElementsAre;
using testing::FakeRwkvServer;
using testing::FakeTurn;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// argv-style storage for ExtractRepeatedFlag.
class Args {
 public:
  explicit Args(std::vector<std::string> words) : words_(std::move(words)) {
    for (std::string& word : words_) pointers_.push_back(word.data());
  }
  std::vector<char*>& pointers() { return pointers_; }
  std::vector<std::string> Remaining() const {
    return std::vector<std::string>(pointers_.begin(), pointers_.end());
  }

 private:
  std::vector<std::string> words_;
  std::vector<char*> pointers_;
};

TEST(UsageErrorTest, IsTellsUsageFromServerErrors) {
  const absl::Status usage = UsageError("bad");
  EXPECT_EQ(usage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(usage.message(), "bad");
  EXPECT_TRUE(IsUsageError(usage));
  EXPECT_FALSE(IsUsageError(absl::InvalidArgumentError("bad")));
  EXPECT_FALSE(IsUsageError(absl::OkStatus()));
}

TEST(ExtractRepeatedFlagTest, TakesEveryFormAndKeepsTheRest) {
  Args args({"rwkv-cli", "generate", "--stop", "a", "--max-tokens=3", "--stop=b,c", "-stop", "d",
             "hello", "--stopper=x", "--", "--stop", "e"});
  absl::StatusOr<std::vector<std::string>> values = ExtractRepeatedFlag(args.pointers(), "stop");
  ASSERT_TRUE(values.ok());
  EXPECT_THAT(*values, ElementsAre("a", "b,c", "d"));
  EXPECT_THAT(args.Remaining(), ElementsAre("rwkv-cli", "generate", "--max-tokens=3", "hello",
                                            "--stopper=x", "--", "--stop", "e"));
}

TEST(ExtractRepeatedFlagTest, MissingValueIsAUsageError) {
  Args args({"rwkv-cli", "generate", "--stop"});
  EXPECT_TRUE(IsUsageError(ExtractRepeatedFlag(args.pointers(), "stop").status()));
  Args none({"rwkv-cli"});
  absl::StatusOr<std::vector<std::string>> values = ExtractRepeatedFlag(none.pointers(), "stop");
  ASSERT_TRUE(values.ok());
  EXPECT_THAT(*values, IsEmpty());
}

TEST(ParseStopStringsTest, SplitsCommasAndUnescapes) {
  absl::StatusOr<std::vector<std::string>> stops =
      ParseStopStrings({"\\n\\nUser:", "a,,b", "x\\x2cy", "\\t"});
  ASSERT_TRUE(stops.ok());
  EXPECT_THAT(*stops, ElementsAre("\n\nUser:", "a", "b", "x,y", "\t"));
  EXPECT_TRUE(IsUsageError(ParseStopStrings({"\\q"}).status()));
}

TEST(PromptFromArgsTest, WordsOrStdin) {
  std::istringstream unused("ignored");
  EXPECT_EQ(PromptFromArgs({"The", "quick", "fox"}, unused), "The quick fox");
  std::istringstream in("line one\nline two\n");
  EXPECT_EQ(PromptFromArgs({}, in), "line one\nline two\n");
  std::istringstream dash("from stdin");
  EXPECT_EQ(PromptFromArgs({"-"}, dash), "from stdin");
}

TEST(ParseTokenIdsTest, SpacesAndCommas) {
  absl::StatusOr<std::vector<int32_t>> ids = ParseTokenIds({"1", "2,3", "-4"});
  ASSERT_TRUE(ids.ok());
  EXPECT_THAT(*ids, ElementsAre(1, 2, 3, -4));  // the server judges the range
  EXPECT_TRUE(IsUsageError(ParseTokenIds({"12a"}).status()));
  EXPECT_TRUE(IsUsageError(ParseTokenIds({"99999999999"}).status()));
}

TEST(FormatUnixTimeTest, Rfc3339Utc) {
  EXPECT_EQ(FormatUnixTime(1700000000.7), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatUnixTime(0), "never");
}

TEST(ChatTurnPromptTest, FramesEachTurnAfterWhatTheStateHasSeen) {
  EXPECT_EQ(ChatTurnPrompt("hi", ChatHistory::kEmpty), "User: hi\n\nAssistant:");
  EXPECT_EQ(ChatTurnPrompt("and you?", ChatHistory::kUserTagSeen), " and you?\n\nAssistant:");
  EXPECT_EQ(ChatTurnPrompt("more", ChatHistory::kOther), "\n\nUser: more\n\nAssistant:");
}

TEST(BuildGenerateRequestTest, UnsetOptionsLeaveServerDefaults) {
  const rwkv::v1::GenerateRequest request = BuildGenerateRequest(GenerateOptions(), "p");
  EXPECT_EQ(request.text(), "p");
  EXPECT_TRUE(request.session_id().empty());
  EXPECT_FALSE(request.sampling().has_temperature());
  EXPECT_FALSE(request.sampling().has_top_p());
  EXPECT_FALSE(request.sampling().has_seed());
  EXPECT_FALSE(request.stop().has_max_tokens());
  EXPECT_EQ(request.on_cancel(), rwkv::v1::CANCEL_POLICY_DISCARD);
}

TEST(BuildGenerateRequestTest, EveryOption) {
  GenerateOptions options;
  options.session_id = "s1";
  options.create_session = true;
  options.max_tokens = 0;
  options.temperature = 0;
  options.top_p = 0.9f;
  options.top_k = 40;
  options.seed = 42;
  options.stop_strings = {"\n", "END"};
  options.keep_on_cancel = true;
  const rwkv::v1::GenerateRequest request = BuildGenerateRequest(options, "p");
  EXPECT_EQ(request.session_id(), "s1");
  EXPECT_TRUE(request.create_session());
  EXPECT_TRUE(request.stop().has_max_tokens());
  EXPECT_EQ(request.stop().max_tokens(), 0);
  EXPECT_TRUE(request.sampling().has_temperature());
  EXPECT_EQ(request.sampling().temperature(), 0);
  EXPECT_FLOAT_EQ(request.sampling().top_p(), 0.9f);
  EXPECT_EQ(request.sampling().top_k(), 40);
  EXPECT_EQ(request.sampling().seed(), 42u);
  EXPECT_THAT(request.stop().stop_strings(), ElementsAre("\n", "END"));
  EXPECT_EQ(request.on_cancel(), rwkv::v1::CANCEL_POLICY_KEEP);
}

TEST(FormatTest, GenerateSummary) {
  rwkv::v1::GenerateResponse::Done done;
  done.set_finish_reason(rwkv::v1::FINISH_REASON_STOP);
  done.set_matched_stop("\n\nUser:");
  done.mutable_usage()->set_prompt_tokens(5);
  done.mutable_usage()->set_generated_tokens(3);
  done.mutable_usage()->set_session_tokens(20);
  done.mutable_session()->set_id("chat-1");
  done.mutable_session()->set_version(4);
  done.set_seed(9);
  RequestTimer timer{RequestTimer::Clock::time_point()};
  timer.OnTokens(RequestTimer::Clock::time_point() + std::chrono::milliseconds(100), 1);
  timer.OnTokens(RequestTimer::Clock::time_point() + std::chrono::milliseconds(300), 2);
  EXPECT_EQ(FormatGenerateSummary(done, timer),
            "finish=stop matched=\"\\n\\nUser:\" prompt_tokens=5 generated_tokens=3 ttft=0.100s "
            "tok/s=10.0 session=chat-1 version=4 session_tokens=20 seed=9");
}

TEST(FormatTest, SessionLine) {
  rwkv::v1::Session session;
  session.set_id("alice");
  session.set_version(3);
  session.set_token_count(120);
  session.set_updated_at(1700000000);
  EXPECT_EQ(FormatSessionLine(session),
            "alice                     version=3  tokens=120  updated=2023-11-14T22:13:20Z");
  EXPECT_THAT(FormatSessionDetails(session), HasSubstr("expires:      never\n"));
}

size_t Lines(const std::string& text) {
  const std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  return lines.size();
}

class CliCommandTest : public ::testing::Test {
 protected:
  CliEnv& Env(const std::string& input = "") {
    in_.str(input);
    env_.SetClient(std::make_unique<RwkvClient>(server_.NewChannel()));
    return env_;
  }

  FakeRwkvServer server_;
  std::istringstream in_;
  std::ostringstream out_;
  std::ostringstream err_;
  CliEnv env_{"unused:1", absl::Seconds(1), in_, out_, err_};
};

TEST_F(CliCommandTest, GenerateStreamsTextAndPrintsASummary) {
  FakeTurn turn;
  turn.deltas = {{"Hello", {1}}, {" world", {2, 3}}};
  server_.service().QueueTurn(turn);
  GenerateOptions options;
  options.max_tokens = 3;
  absl::StatusOr<int> exit_code = RunGenerate(Env(), options, {"Say", "hi"});
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  EXPECT_EQ(out_.str(), "Hello world");
  EXPECT_THAT(err_.str(), HasSubstr("\nfinish=length "));  // after a line break
  EXPECT_THAT(err_.str(), HasSubstr("generated_tokens=3"));
  ASSERT_EQ(server_.service().generate_requests().size(), 1u);
  EXPECT_EQ(server_.service().generate_requests()[0].text(), "Say hi");
  EXPECT_EQ(server_.service().generate_requests()[0].stop().max_tokens(), 3);
}

TEST_F(CliCommandTest, GenerateReturnsTheServerError) {
  FakeTurn turn;
  turn.status = grpc::Status(grpc::StatusCode::ABORTED, "another turn is running");
  server_.service().QueueTurn(turn);
  absl::StatusOr<int> exit_code = RunGenerate(Env(), GenerateOptions(), {"x"});
  EXPECT_EQ(exit_code.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(exit_code.status().message(), "another turn is running");
  EXPECT_FALSE(IsUsageError(exit_code.status()));
}

TEST_F(CliCommandTest, GenerateUsageErrors) {
  EXPECT_TRUE(IsUsageError(RunGenerate(Env(""), GenerateOptions(), {}).status()));
  GenerateOptions options;
  options.create_session = true;
  EXPECT_TRUE(IsUsageError(RunGenerate(Env(), options, {"x"}).status()));
  EXPECT_TRUE(server_.service().generate_requests().empty());
}

TEST_F(CliCommandTest, ChatFramesTurnsAfterWhatTheSessionHasSeen) {
  FakeTurn first;  // ends on the stop string, which the model produced
  first.deltas = {{" Hello!", {1, 2}}, {"", {3, 4}}};
  first.finish_reason = rwkv::v1::FINISH_REASON_STOP;
  first.matched_stop = "\n\nUser:";
  FakeTurn second;  // cut by max tokens
  second.deltas = {{" Fine", {5}}};
  server_.service().QueueTurn(first);
  server_.service().QueueTurn(second);
  absl::StatusOr<int> exit_code = RunChat(Env("hi\n\nhow are you?\nbye\n"), GenerateOptions(), {});
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, 0);
  const std::vector<rwkv::v1::GenerateRequest> requests = server_.service().generate_requests();
  ASSERT_EQ(requests.size(), 3u);  // the empty line is skipped
  EXPECT_EQ(requests[0].text(), "User: hi\n\nAssistant:");
  EXPECT_EQ(requests[1].text(), " how are you?\n\nAssistant:");
  EXPECT_EQ(requests[2].text(), "\n\nUser: bye\n\nAssistant:");
  EXPECT_EQ(requests[0].session_id(), requests[2].session_id());
  EXPECT_FALSE(requests[0].session_id().empty());
  EXPECT_THAT(requests[1].stop().stop_strings(), ElementsAre("\n\nUser:"));
  EXPECT_EQ(out_.str(), "Hello!\nFine\nabc\n");  // leading spaces trimmed for display
  EXPECT_THAT(err_.str(), HasSubstr("session: " + requests[0].session_id()));
}

TEST_F(CliCommandTest, ChatResumesANamedSession) {
  GenerateOptions options;
  options.session_id = "old";
  rwkv::v1::GenerateRequest seed_turn;  // give "old" some history
  seed_turn.set_text("earlier");
  seed_turn.set_session_id("old");
  seed_turn.set_create_session(true);
  ASSERT_TRUE(Env().Client().value()->Generate(seed_turn, nullptr, nullptr).ok());
  ASSERT_TRUE(RunChat(env_, options, {}).ok());  // no input: ends at once
  in_.clear();
  in_.str("hello\n");
  ASSERT_TRUE(RunChat(env_, options, {}).ok());
  const std::vector<rwkv::v1::GenerateRequest> requests = server_.service().generate_requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].text(), "\n\nUser: hello\n\nAssistant:");
  EXPECT_EQ(requests[1].session_id(), "old");
  EXPECT_THAT(err_.str(), HasSubstr("resumed"));
}

TEST_F(CliCommandTest, SessionsListFollowsPages) {
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_TRUE(RunSessions(Env(), SessionsOptions(), {"create", id}).ok());
  }
  out_.str("");
  SessionsOptions options;
  options.page_size = 2;
  ASSERT_TRUE(RunSessions(env_, options, {"list"}).ok());
  EXPECT_EQ(Lines(out_.str()), 2u);
  EXPECT_THAT(err_.str(), HasSubstr("--page-token b"));
  out_.str("");
  options.all = true;
  ASSERT_TRUE(RunSessions(env_, options, {"list"}).ok());
  EXPECT_EQ(Lines(out_.str()), 3u);
  EXPECT_THAT(out_.str(), HasSubstr("c                         version=0  tokens=0"));
}

TEST_F(CliCommandTest, SessionsSubcommands) {
  ASSERT_TRUE(RunSessions(Env(), SessionsOptions(), {"create", "src"}).ok());
  ASSERT_TRUE(RunSessions(env_, SessionsOptions(), {"fork", "src", "dst"}).ok());
  EXPECT_THAT(out_.str(), HasSubstr("id:           dst\n"));
  ASSERT_TRUE(RunSessions(env_, SessionsOptions(), {"delete", "src"}).ok());
  EXPECT_THAT(out_.str(), HasSubstr("deleted src\n"));
  EXPECT_EQ(RunSessions(env_, SessionsOptions(), {"get", "src"}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(IsUsageError(RunSessions(env_, SessionsOptions(), {"get"}).status()));
  EXPECT_TRUE(IsUsageError(RunSessions(env_, SessionsOptions(), {"frob"}).status()));
  EXPECT_TRUE(IsUsageError(RunSessions(env_, SessionsOptions(), {}).status()));
}

TEST_F(CliCommandTest, TokenizeAndDetokenize) {
  ASSERT_TRUE(RunTokenize(Env(), {"hi", "!"}).ok());
  EXPECT_EQ(out_.str(), "104 105 32 33\n");
  out_.str("");
  ASSERT_TRUE(RunDetokenize(env_, {"104,105", "33"}).ok());
  EXPECT_EQ(out_.str(), "hi!\n");
  EXPECT_EQ(RunDetokenize(env_, {"300"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsUsageError(RunDetokenize(env_, {"300"}).status()));
  EXPECT_TRUE(IsUsageError(RunDetokenize(env_, {}).status()));
}

TEST_F(CliCommandTest, HealthExitStatus) {
  server_.server().GetHealthCheckService()->SetServingStatus("rwkv.v1.Rwkv", false);
  absl::StatusOr<int> serving = RunHealth(Env(), {});
  ASSERT_TRUE(serving.ok());
  EXPECT_EQ(*serving, 0);
  absl::StatusOr<int> not_serving = RunHealth(env_, {"rwkv.v1.Rwkv"});
  ASSERT_TRUE(not_serving.ok());
  EXPECT_EQ(*not_serving, 1);
  EXPECT_EQ(out_.str(), "SERVING\nNOT_SERVING\n");
  EXPECT_EQ(RunHealth(env_, {"unknown"}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CliCommandTest, Info) {
  ASSERT_TRUE(RunInfo(Env(), {}).ok());
  EXPECT_THAT(out_.str(), HasSubstr("vocab_size:         256\n"));
  EXPECT_TRUE(IsUsageError(RunInfo(env_, {"extra"}).status()));
}

}  // namespace
}  // namespace rwkv::client
