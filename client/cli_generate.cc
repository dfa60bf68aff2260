// rwkv-cli's streaming commands: `generate` and `chat`.
#include <istream>
#include <ostream>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/cli_args.h"
#include "client/cli_commands.h"
#include "common/status_macros.h"

namespace rwkv::client {
namespace {

using Clock = RequestTimer::Clock;
using rwkv::v1::GenerateRequest;
using rwkv::v1::GenerateResponse;

// "FINISH_REASON_LENGTH" -> "length".
std::string FinishName(rwkv::v1::FinishReason reason) {
  absl::string_view name = rwkv::v1::FinishReason_Name(reason);
  absl::ConsumePrefix(&name, "FINISH_REASON_");
  return absl::AsciiStrToLower(name);
}

struct StreamResult {
  explicit StreamResult(Clock::time_point start) : timer(start) {}

  absl::Status status;
  // Ctrl-C cancelled the call.
  bool interrupted = false;
  GenerateResponse::Done done;
  RequestTimer timer;
  // Nothing was printed, or the printed text ends with a newline.
  bool at_line_start = true;
};

// Runs one Generate call, printing its text to env.out as it arrives. With
// `trim_leading_space`, whitespace before the first visible character is not printed: chat
// replies start with the space that follows "Assistant:".
StreamResult StreamGenerate(CliEnv& env, RwkvClient& client, const GenerateRequest& request,
                            bool trim_leading_space) {
  StreamResult result(Clock::now());
  bool skipping = trim_leading_space;
  grpc::ClientContext context;
  {
    InterruptWatcher::ScopedCall scoped(env.interrupts, &context);
    result.status = client.Generate(
        request,
        [&](const GenerateResponse::Delta& delta) {
          result.timer.OnTokens(Clock::now(), delta.token_ids_size());
          absl::string_view text = delta.text();
          if (skipping) {
            text = absl::StripLeadingAsciiWhitespace(text);
            skipping = text.empty();
          }
          if (text.empty()) return;
          env.out << text << std::flush;
          result.at_line_start = text.back() == '\n';
        },
        &result.done, &context);
  }
  result.timer.OnEnd(Clock::now());
  // A Ctrl-C that raced with a successful end does not turn it into a failure.
  result.interrupted = env.interrupts != nullptr && env.interrupts->TakeInterrupted() &&
                       absl::IsCancelled(result.status);
  return result;
}

// Opens the chat's session: creates one (server-chosen ID) when none is named, resumes the named
// one, or creates it under that name. Returns what the session has seen.
absl::StatusOr<ChatHistory> OpenChatSession(CliEnv& env, RwkvClient& client,
                                            std::string& session_id) {
  rwkv::v1::CreateSessionRequest create;
  if (!session_id.empty()) {
    absl::StatusOr<rwkv::v1::Session> existing = client.GetSession(session_id);
    if (existing.ok()) {
      env.err << "session: " << session_id << " (resumed: version " << existing->version() << ", "
              << existing->token_count() << " tokens)\n";
      return existing->token_count() > 0 ? ChatHistory::kOther : ChatHistory::kEmpty;
    }
    if (!absl::IsNotFound(existing.status())) return existing.status();
    create.set_session_id(session_id);
  }
  RWKV_ASSIGN_OR_RETURN(rwkv::v1::Session created, client.CreateSession(create));
  session_id = created.id();
  env.err << "session: " << session_id << "\n";
  return ChatHistory::kEmpty;
}

}  // namespace

GenerateRequest BuildGenerateRequest(const GenerateOptions& options, std::string prompt) {
  GenerateRequest request;
  request.set_text(std::move(prompt));
  if (!options.session_id.empty()) {
    request.set_session_id(options.session_id);
    request.set_create_session(options.create_session);
  }
  rwkv::v1::SamplingOptions& sampling = *request.mutable_sampling();
  if (options.temperature.has_value()) sampling.set_temperature(*options.temperature);
  if (options.top_p.has_value()) sampling.set_top_p(*options.top_p);
  sampling.set_top_k(options.top_k);
  if (options.seed.has_value()) sampling.set_seed(*options.seed);
  rwkv::v1::StopOptions& stop = *request.mutable_stop();
  if (options.max_tokens.has_value()) stop.set_max_tokens(*options.max_tokens);
  for (const std::string& s : options.stop_strings) stop.add_stop_strings(s);
  request.set_on_cancel(options.keep_on_cancel ? rwkv::v1::CANCEL_POLICY_KEEP
                                               : rwkv::v1::CANCEL_POLICY_DISCARD);
  return request;
}

std::string FormatGenerateSummary(const GenerateResponse::Done& done, const RequestTimer& timer) {
  std::vector<std::string> parts = {absl::StrCat("finish=", FinishName(done.finish_reason()))};
  if (!done.matched_stop().empty()) {
    parts.push_back(absl::StrCat("matched=\"", absl::CEscape(done.matched_stop()), "\""));
  }
  parts.push_back(absl::StrCat("prompt_tokens=", done.usage().prompt_tokens()));
  parts.push_back(absl::StrCat("generated_tokens=", done.usage().generated_tokens()));
  if (timer.tokens() > 0) parts.push_back(absl::StrFormat("ttft=%.3fs", timer.ttft_s()));
  if (timer.decode_tokens_per_s() > 0) {
    parts.push_back(absl::StrFormat("tok/s=%.1f", timer.decode_tokens_per_s()));
  }
  if (done.has_session()) {
    parts.push_back(absl::StrCat("session=", done.session().id()));
    parts.push_back(absl::StrCat("version=", done.session().version()));
    parts.push_back(absl::StrCat("session_tokens=", done.usage().session_tokens()));
  }
  parts.push_back(absl::StrCat("seed=", done.seed()));
  return absl::StrJoin(parts, " ");
}

absl::StatusOr<int> RunGenerate(CliEnv& env, const GenerateOptions& options,
                                const std::vector<std::string>& args) {
  if (options.create_session && options.session_id.empty()) {
    return UsageError("--create-session needs --session");
  }
  if (env.interactive && (args.empty() || args == std::vector<std::string>{"-"})) {
    env.err << "reading the prompt from stdin; end it with Ctrl-D\n";
  }
  std::string prompt = PromptFromArgs(args, env.in);
  if (prompt.empty()) return UsageError("the prompt is empty");
  RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
  StreamResult result = StreamGenerate(
      env, *client, BuildGenerateRequest(options, std::move(prompt)), /*trim_leading_space=*/false);
  // Keeps the summary or error off the end of the generated text on a terminal.
  if (!result.at_line_start) env.err << "\n";
  if (result.interrupted) {
    env.err << "rwkv-cli: cancelled\n";
    return 130;
  }
  RWKV_RETURN_IF_ERROR(result.status);
  env.err << FormatGenerateSummary(result.done, result.timer) << "\n";
  return 0;
}

absl::StatusOr<int> RunChat(CliEnv& env, const GenerateOptions& options,
                            const std::vector<std::string>& args) {
  if (!args.empty()) return UsageError("chat takes no arguments: type the messages on stdin");
  RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
  GenerateOptions turn = options;
  RWKV_ASSIGN_OR_RETURN(ChatHistory history, OpenChatSession(env, *client, turn.session_id));
  turn.create_session = false;
  turn.stop_strings.emplace_back(kChatStop);
  std::string line;
  while (true) {
    if (env.interactive) env.err << "> " << std::flush;
    if (!std::getline(env.in, line)) break;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    StreamResult result =
        StreamGenerate(env, *client, BuildGenerateRequest(turn, ChatTurnPrompt(line, history)),
                       /*trim_leading_space=*/true);
    if (result.interrupted) {
      env.err << (result.at_line_start ? "" : "\n") << "[cancelled]\n";
      // Rolled back unless --keep-on-cancel, in which case the state ends mid-reply.
      if (options.keep_on_cancel) history = ChatHistory::kOther;
      continue;
    }
    if (!result.status.ok() && !result.at_line_start) env.err << "\n";
    RWKV_RETURN_IF_ERROR(result.status);
    env.out << "\n" << std::flush;
    history =
        result.done.matched_stop() == kChatStop ? ChatHistory::kUserTagSeen : ChatHistory::kOther;
  }
  if (env.interactive) env.err << "\n";
  return 0;
}

}  // namespace rwkv::client
