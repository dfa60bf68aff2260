// rwkv-cli's commands. cli_main.cc parses the flags into the option structs below and calls
// one Run* function with the command's positional arguments.
//
//   CliEnv env("127.0.0.1:50051", absl::Seconds(5), std::cin, std::cout, std::cerr);
//   absl::StatusOr<int> exit_code = RunInfo(env, {});
//
// Each Run* returns the process exit status on success (0; 1 for `health` when not serving;
// 130 when Ctrl-C cancelled a generation) and an error otherwise: a UsageError (cli_args.h) for
// bad arguments, found before connecting, or the failed call's status.
#ifndef RWKV_CLIENT_CLI_COMMANDS_H_
#define RWKV_CLIENT_CLI_COMMANDS_H_

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/interrupt.h"
#include "client/request_timer.h"
#include "client/rwkv_client.h"
#include "rwkv/v1/rwkv.pb.h"

namespace rwkv::client {

// What every command works with: the streams, and a client connected on first use (so that
// usage errors are reported without a server).
class CliEnv {
 public:
  CliEnv(std::string server, absl::Duration connect_timeout, std::istream& in, std::ostream& out,
         std::ostream& err)
      : in(in), out(out), err(err), server_(std::move(server)), connect_timeout_(connect_timeout) {}

  absl::StatusOr<RwkvClient*> Client();
  // Plaintext unless set (the --tls-* flags).
  void SetChannelOptions(ChannelOptions channel) { channel_ = std::move(channel); }
  // Uses `client` instead of connecting (tests).
  void SetClient(std::unique_ptr<RwkvClient> client) { client_ = std::move(client); }

  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  // stdin is a terminal: chat prints a "> " prompt, generate says it is reading stdin.
  bool interactive = false;
  // Ctrl-C handling for streaming calls; null in tests.
  InterruptWatcher* interrupts = nullptr;
  // Sent as `authorization: Bearer <token>` on every call ("" = none).
  std::string auth_token;

 private:
  std::string server_;
  absl::Duration connect_timeout_;
  ChannelOptions channel_;
  std::unique_ptr<RwkvClient> client_;
};

// Flags of `generate` and `chat`; unset optionals leave the server's defaults.
struct GenerateOptions {
  std::string session_id;
  bool create_session = false;
  std::optional<int32_t> max_tokens;
  std::optional<float> temperature;
  std::optional<float> top_p;
  int32_t top_k = 0;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop_strings;
  bool keep_on_cancel = false;
};

rwkv::v1::GenerateRequest BuildGenerateRequest(const GenerateOptions& options, std::string prompt);

// The one-line summary `generate` prints to stderr, e.g.
// "finish=stop matched=\"\\n\\nUser:\" prompt_tokens=5 generated_tokens=17 ttft=0.042s
//  tok/s=55.1 session=chat-1 version=3 session_tokens=120 seed=42".
std::string FormatGenerateSummary(const rwkv::v1::GenerateResponse::Done& done,
                                  const RequestTimer& timer);

struct SessionsOptions {
  int32_t page_size = 0;
  std::string page_token;
  bool all = false;
};

// "ID  version=V  tokens=T  updated=TIME".
std::string FormatSessionLine(const rwkv::v1::Session& session);
// Every field, one per line.
std::string FormatSessionDetails(const rwkv::v1::Session& session);

absl::StatusOr<int> RunGenerate(CliEnv& env, const GenerateOptions& options,
                                const std::vector<std::string>& args);
absl::StatusOr<int> RunChat(CliEnv& env, const GenerateOptions& options,
                            const std::vector<std::string>& args);
absl::StatusOr<int> RunSessions(CliEnv& env, const SessionsOptions& options,
                                const std::vector<std::string>& args);
absl::StatusOr<int> RunTokenize(CliEnv& env, const std::vector<std::string>& args);
absl::StatusOr<int> RunDetokenize(CliEnv& env, const std::vector<std::string>& args);
absl::StatusOr<int> RunInfo(CliEnv& env, const std::vector<std::string>& args);
absl::StatusOr<int> RunHealth(CliEnv& env, const std::vector<std::string>& args);

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_CLI_COMMANDS_H_
