// rwkv-cli's `sessions` command: list, get, create, fork, delete.
#include <algorithm>
#include <ostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/cli_args.h"
#include "client/cli_commands.h"
#include "common/status_macros.h"

namespace rwkv::client {
namespace {

constexpr absl::string_view kSessionsUsage =
    "sessions list|get ID|create [ID]|fork SOURCE [NEW_ID]|delete ID";

absl::Status CheckArgCount(const std::vector<std::string>& args, size_t min, size_t max) {
  // args[0] is the subcommand.
  if (args.size() < min + 1 || args.size() > max + 1) {
    return UsageError(absl::StrCat("usage: ", kSessionsUsage));
  }
  return absl::OkStatus();
}

absl::Status List(CliEnv& env, RwkvClient& client, const SessionsOptions& options) {
  rwkv::v1::ListSessionsRequest request;
  request.set_page_size(options.page_size);
  request.set_page_token(options.page_token);
  while (true) {
    RWKV_ASSIGN_OR_RETURN(rwkv::v1::ListSessionsResponse page, client.ListSessions(request));
    for (const rwkv::v1::Session& session : page.sessions()) {
      env.out << FormatSessionLine(session) << "\n";
    }
    if (page.next_page_token().empty()) break;
    if (!options.all) {
      env.err << "more sessions: --all, or --page-token " << page.next_page_token() << "\n";
      break;
    }
    request.set_page_token(page.next_page_token());
  }
  env.out << std::flush;
  return absl::OkStatus();
}

absl::StatusOr<int> Dispatch(CliEnv& env, const SessionsOptions& options,
                             const std::vector<std::string>& args) {
  const std::string& sub = args[0];
  if (sub == "list") {
    RWKV_RETURN_IF_ERROR(CheckArgCount(args, 0, 0));
    RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
    RWKV_RETURN_IF_ERROR(List(env, *client, options));
    return 0;
  }
  rwkv::v1::Session session;
  if (sub == "get") {
    RWKV_RETURN_IF_ERROR(CheckArgCount(args, 1, 1));
    RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
    RWKV_ASSIGN_OR_RETURN(session, client->GetSession(args[1]));
  } else if (sub == "create") {
    RWKV_RETURN_IF_ERROR(CheckArgCount(args, 0, 1));
    rwkv::v1::CreateSessionRequest request;
    if (args.size() > 1) request.set_session_id(args[1]);
    RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
    RWKV_ASSIGN_OR_RETURN(session, client->CreateSession(request));
  } else if (sub == "fork") {
    RWKV_RETURN_IF_ERROR(CheckArgCount(args, 1, 2));
    rwkv::v1::ForkSessionRequest request;
    request.set_source_session_id(args[1]);
    if (args.size() > 2) request.set_new_session_id(args[2]);
    RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
    RWKV_ASSIGN_OR_RETURN(session, client->ForkSession(request));
  } else if (sub == "delete") {
    RWKV_RETURN_IF_ERROR(CheckArgCount(args, 1, 1));
    RWKV_ASSIGN_OR_RETURN(RwkvClient * client, env.Client());
    RWKV_RETURN_IF_ERROR(client->DeleteSession(args[1]));
    env.out << "deleted " << args[1] << std::endl;
    return 0;
  } else {
    return UsageError(absl::StrCat("unknown sessions command '", sub, "'; ", kSessionsUsage));
  }
  env.out << FormatSessionDetails(session) << std::flush;
  return 0;
}

}  // namespace

std::string FormatSessionLine(const rwkv::v1::Session& session) {
  return absl::StrFormat("%-24s  version=%d  tokens=%d  updated=%s", session.id(),
                         session.version(), session.token_count(),
                         FormatUnixTime(session.updated_at()));
}

std::string FormatSessionDetails(const rwkv::v1::Session& session) {
  std::vector<std::string> metadata;
  for (const auto& [key, value] : session.metadata()) {
    metadata.push_back(absl::StrCat(key, "=", value));
  }
  std::sort(metadata.begin(), metadata.end());  // protobuf maps have no stable order
  return absl::StrFormat(
      "id:           %s\nversion:      %d\ntokens:       %d\ncreated:      %s\n"
      "updated:      %s\nexpires:      %s\nstate_bytes:  %d\nmodel:        %s\n"
      "metadata:     %s\n",
      session.id(), session.version(), session.token_count(), FormatUnixTime(session.created_at()),
      FormatUnixTime(session.updated_at()), FormatUnixTime(session.expires_at()),
      session.state_bytes(), session.model_fingerprint(), absl::StrJoin(metadata, ", "));
}

absl::StatusOr<int> RunSessions(CliEnv& env, const SessionsOptions& options,
                                const std::vector<std::string>& args) {
  if (args.empty()) return UsageError(absl::StrCat("usage: ", kSessionsUsage));
  if (options.page_size < 0) return UsageError("--page-size must be >= 0");
  return Dispatch(env, options, args);
}

}  // namespace rwkv::client
