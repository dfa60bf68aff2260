// rwkv-cli: command-line client of rwkv-serve (see kUsage below, or rwkv-cli --help).
//
//   rwkv-cli generate --max-tokens 32 "The quick brown fox"
//   rwkv-cli --server 10.0.0.5:50051 chat --session alice
//
// Exit status: 0 on success; 1 when a call fails ("rwkv-cli: CODE: message" on stderr) or
// `health` is not SERVING; 2 for a usage error; 130 when Ctrl-C cancelled a generation.
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "client/channel_flags.h"
#include "client/auth_token.h"
#include "client/cli_args.h"
#include "client/cli_commands.h"
#include "client/interrupt.h"
#include "common/command_line.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Server address, HOST:PORT.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding the bearer token sent with every call (surrounding whitespace ignored); "
          "default: the RWKV_AUTH_TOKEN environment variable, else none.");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(5), "How long to wait to connect.");
ABSL_FLAG(std::string, session, "", "generate, chat: the session to continue.");
ABSL_FLAG(bool, create_session, false, "generate: create --session if it does not exist.");
ABSL_FLAG(std::optional<int32_t>, max_tokens, std::nullopt,
          "generate, chat: tokens to generate at most (server default 256).");
ABSL_FLAG(std::optional<float>, temperature, std::nullopt,
          "generate, chat: sampling temperature, 0 = greedy (server default 1.0).");
ABSL_FLAG(std::optional<float>, top_p, std::nullopt,
          "generate, chat: nucleus sampling threshold in (0, 1] (server default 1.0 = off).");
ABSL_FLAG(int32_t, top_k, 0, "generate, chat: keep only the k most likely tokens; 0 = off.");
ABSL_FLAG(std::optional<uint64_t>, seed, std::nullopt,
          "generate, chat: sampler seed (server default: random, shown in the summary).");
ABSL_FLAG(std::string, stop, "",
          "generate, chat: stop string; repeatable and comma-separated; C escapes (\\n, \\x2c).");
ABSL_FLAG(bool, keep_on_cancel, false,
          "generate, chat: a cancelled turn keeps the prompt and streamed tokens in the session.");
ABSL_FLAG(int32_t, page_size, 0, "sessions list: sessions per page (server default 100).");
ABSL_FLAG(std::string, page_token, "", "sessions list: start from this page token.");
ABSL_FLAG(bool, all, false, "sessions list: follow every page.");

namespace rwkv::client {
namespace {

constexpr char kUsage[] =
    R"(Command-line client of rwkv-serve.

  rwkv-cli [--server HOST:PORT] [--connect-timeout 5s] [TLS flags] [--auth-token-file FILE]
           COMMAND [ARGS...]

TLS: --tls-ca-file CA.pem verifies the server against that CA (plaintext without it);
     --tls-cert-file CERT.pem --tls-key-file KEY.pem add a client certificate (mutual TLS);
     --tls-server-name NAME checks the certificate for NAME instead of the address's host.
A server with --auth-tokens-file needs a token: --auth-token-file FILE, or RWKV_AUTH_TOKEN.

Commands:
  generate [--session ID [--create-session]] [--max-tokens N] [--temperature T] [--top-p P]
           [--top-k K] [--seed S] [--stop STR]... [--keep-on-cancel] [PROMPT... | -]
      Streams the completion of PROMPT (the words joined by spaces; stdin when absent or "-")
      to stdout, then prints a summary to stderr: finish reason, matched stop string, prompt and
      generated tokens, time to first token and decode speed (measured here), session version.
      Ctrl-C cancels the call (exit status 130); the session rolls back to the version it had
      unless --keep-on-cancel.
  chat [--session ID] [sampling flags as for generate]
      Interactive conversation on stdin/stdout, kept in a session: a new one (its ID is printed
      to stderr) unless --session names one, which is resumed or created. Each line is sent as
      "User: LINE\n\nAssistant:" and the reply ends at "\n\nUser:". Ctrl-C stops a reply;
      end of input (Ctrl-D) or Ctrl-C at the prompt exits.
  sessions list [--page-size N] [--page-token T] [--all]   one session per line
  sessions get ID | create [ID] | fork SOURCE [NEW_ID] | delete ID
  tokenize [TEXT... | -]       prints the token IDs
  detokenize ID...             prints the text (IDs separated by spaces or commas)
  info                         prints the model's description
  health [SERVICE]             prints SERVING or NOT_SERVING; exit status 0 only when SERVING
  help                         prints this text

Stop strings: --stop may be repeated and each value may hold a comma-separated list; C escapes
are decoded, so --stop '\n\n' stops at a blank line and \x2c is a literal comma.
A prompt that starts with "-" goes after "--":  rwkv-cli generate -- -5 degrees and falling
Flags may be written with dashes or underscores (--max-tokens, --max_tokens).
Exit status: 0 ok; 1 error (printed as "rwkv-cli: CODE: message"); 2 usage error; 130 Ctrl-C.)";

GenerateOptions GenerateOptionsFromFlags(std::vector<std::string> stop_strings) {
  GenerateOptions options;
  options.session_id = absl::GetFlag(FLAGS_session);
  options.create_session = absl::GetFlag(FLAGS_create_session);
  options.max_tokens = absl::GetFlag(FLAGS_max_tokens);
  options.temperature = absl::GetFlag(FLAGS_temperature);
  options.top_p = absl::GetFlag(FLAGS_top_p);
  options.top_k = absl::GetFlag(FLAGS_top_k);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.stop_strings = std::move(stop_strings);
  options.keep_on_cancel = absl::GetFlag(FLAGS_keep_on_cancel);
  return options;
}

absl::StatusOr<int> Dispatch(CliEnv& env, const std::string& command,
                             const std::vector<std::string>& args,
                             std::vector<std::string> stop_strings) {
  if (command == "generate") {
    return RunGenerate(env, GenerateOptionsFromFlags(std::move(stop_strings)), args);
  }
  if (command == "chat")
    return RunChat(env, GenerateOptionsFromFlags(std::move(stop_strings)), args);
  if (command == "sessions") {
    SessionsOptions options;
    options.page_size = absl::GetFlag(FLAGS_page_size);
    options.page_token = absl::GetFlag(FLAGS_page_token);
    options.all = absl::GetFlag(FLAGS_all);
    return RunSessions(env, options, args);
  }
  if (command == "tokenize") return RunTokenize(env, args);
  if (command == "detokenize") return RunDetokenize(env, args);
  if (command == "info") return RunInfo(env, args);
  if (command == "health") return RunHealth(env, args);
  if (command == "help") {
    env.out << kUsage << "\n";
    return 0;
  }
  return UsageError(absl::StrCat("unknown command '", command, "'"));
}

int Fail(const absl::Status& status) {
  if (IsUsageError(status)) {
    std::cerr << "rwkv-cli: " << status.message() << " (see --help)\n";
    return 2;
  }
  std::cerr << "rwkv-cli: " << absl::StatusCodeToString(status.code());
  if (!status.message().empty()) std::cerr << ": " << status.message();
  std::cerr << "\n";
  return 1;
}

int Main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  // Before Abseil parses the rest, which would keep only the last --stop.
  absl::StatusOr<std::vector<std::string>> stop_values = ExtractRepeatedFlag(args, "stop");
  if (!stop_values.ok()) return Fail(stop_values.status());
  std::vector<char*> positional =
      rwkv::ParseCommandLine(static_cast<int>(args.size()), args.data(), kUsage);
  absl::StatusOr<std::vector<std::string>> stop_strings = ParseStopStrings(*stop_values);
  if (!stop_strings.ok()) return Fail(stop_strings.status());
  if (positional.size() < 2) return Fail(UsageError("missing COMMAND"));

  CliEnv env(absl::GetFlag(FLAGS_server), absl::GetFlag(FLAGS_connect_timeout), std::cin, std::cout,
             std::cerr);
  const ChannelOptions channel = ChannelOptionsFromFlags();
  if (absl::Status checked = CheckChannelOptions(channel); !checked.ok()) {
    return Fail(UsageError(checked.message()));
  }
  env.SetChannelOptions(channel);
  absl::StatusOr<std::string> token = LoadAuthToken(absl::GetFlag(FLAGS_auth_token_file));
  if (!token.ok()) return Fail(token.status());
  env.auth_token = *std::move(token);
  env.interactive = isatty(STDIN_FILENO) == 1;
  env.interrupts = InterruptWatcher::Install();
  const std::vector<std::string> command_args(positional.begin() + 2, positional.end());
  absl::StatusOr<int> exit_code =
      Dispatch(env, positional[1], command_args, *std::move(stop_strings));
  if (!exit_code.ok()) return Fail(exit_code.status());
  return *exit_code;
}

}  // namespace
}  // namespace rwkv::client

int main(int argc, char** argv) { return rwkv::client::Main(argc, argv); }
