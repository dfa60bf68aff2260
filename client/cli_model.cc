// rwkv-cli's one-call commands: tokenize, detokenize, info, health; and CliEnv.
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli_args.h"
#include "client/cli_commands.h"
#include "common/status_macros.h"

namespace rwkv::client {

absl::StatusOr<RwkvClient*> CliEnv::Client() {
  if (client_ == nullptr) {
    RWKV_ASSIGN_OR_RETURN(client_, RwkvClient::Connect(server_, connect_timeout_, channel_));
    client_->SetAuthToken(auth_token);
  }
  return client_.get();
}

absl::StatusOr<int> RunTokenize(CliEnv& env, const std::vector<std::string>& args) {
  const std::string text = PromptFromArgs(args, env.in);
  RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
  RWKV_ASSIGN_OR_RETURN(rwkv::v1::TokenizeResponse response, client->Tokenize(text));
  env.out << absl::StrJoin(response.token_ids(), " ") << std::endl;
  return 0;
}

absl::StatusOr<int> RunDetokenize(CliEnv& env, const std::vector<std::string>& args) {
  RWKV_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseTokenIds(args));
  if (ids.empty()) return UsageError("detokenize needs token IDs");
  rwkv::v1::DetokenizeRequest request;
  request.mutable_token_ids()->Add(ids.begin(), ids.end());
  RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
  RWKV_ASSIGN_OR_RETURN(rwkv::v1::DetokenizeResponse response, client->Detokenize(request));
  env.out << response.text() << std::endl;
  return 0;
}

absl::StatusOr<int> RunInfo(CliEnv& env, const std::vector<std::string>& args) {
  if (!args.empty()) return UsageError("info takes no arguments");
  RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
  RWKV_ASSIGN_OR_RETURN(rwkv::v1::ModelInfo info, client->GetModelInfo());
  env.out << "version:            " << info.version() << "\n"
          << "layers:             " << info.layers() << "\n"
          << "embedding:          " << info.embedding() << "\n"
          << "heads:              " << info.heads() << " x " << info.head_size() << "\n"
          << "vocab_size:         " << info.vocab_size() << "\n"
          << "parameters:         " << info.parameters() << "\n"
          << "tokenizer:          " << info.tokenizer() << "\n"
          << "precision:          " << info.precision() << "\n"
          << "state_bytes:        " << info.state_bytes() << "\n"
          << "max_prompt_tokens:  " << info.max_prompt_tokens() << "\n"
          << "max_new_tokens:     " << info.max_new_tokens() << "\n"
          << "fingerprint:        " << info.fingerprint() << "\n"
          << "source:             " << info.source() << std::endl;
  return 0;
}

absl::StatusOr<int> RunHealth(CliEnv& env, const std::vector<std::string>& args) {
  if (args.size() > 1) return UsageError("usage: health [SERVICE]");
  RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
  RWKV_ASSIGN_OR_RETURN(RwkvClient::ServingStatus status,
                        client->Health(args.empty() ? std::string() : args[0]));
  env.out << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(status) << std::endl;
  return status == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace rwkv::client
