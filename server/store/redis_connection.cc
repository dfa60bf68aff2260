#include "server/store/redis_connection.h"

#include <poll.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server {
namespace {

bool HasCode(absl::string_view error, absl::string_view code) {
  return absl::StartsWith(error, code) &&
         (error.size() == code.size() || error[code.size()] == ' ');
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Open(
    const RedisConnectionOptions& options) {
  redisContext* context = redisConnectWithTimeout(options.uri.host.c_str(), options.uri.port,
                                                  absl::ToTimeval(options.connect_timeout));
  if (context == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("redis state store at ", options.uri.Address(),
                                                     ": no memory for a connection"));
  }
  // Owned from here on, so that every early return frees it.
  std::unique_ptr<RedisConnection> connection(new RedisConnection(context, options));
  if (context->err != 0) {
    return absl::UnavailableError(
        connection->Message("connect", absl::StrCat("cannot connect: ", context->errstr)));
  }
  if (redisSetTimeout(context, absl::ToTimeval(options.command_timeout)) != REDIS_OK) {
    return connection->IoError("set the command timeout");
  }
  if (absl::Status status = connection->Handshake(); !status.ok()) return status;
  return connection;
}

RedisConnection::~RedisConnection() { redisFree(context_); }

absl::Status RedisConnection::Handshake() {
  const RedisUri& uri = options_.uri;
  if (!uri.user.empty() || !options_.password.empty()) {
    std::vector<absl::string_view> auth = {"AUTH"};
    if (!uri.user.empty()) auth.push_back(uri.user);
    auth.push_back(options_.password);
    absl::StatusOr<RedisReply> reply = Send(auth, "AUTH");
    if (!reply.ok()) return reply.status();
    if ((*reply)->type == REDIS_REPLY_ERROR) {
      // Say that the password was refused, never what it was (Redis does not echo it either).
      return absl::UnavailableError(Message(
          "AUTH",
          absl::StrCat("the password",
                       uri.user.empty() ? "" : absl::StrCat(" of user \"", uri.user, "\""),
                       " was refused (", (*reply)->str,
                       "); check --state-store-password-file or RWKV_STATE_STORE_PASSWORD")));
    }
  }
  if (uri.db != 0) {
    const std::string db = absl::StrCat(uri.db);
    absl::StatusOr<RedisReply> reply = Command({"SELECT", db}, absl::StrCat("SELECT ", db));
    if (!reply.ok()) return reply.status();
  }
  return absl::OkStatus();
}

std::string RedisConnection::Message(absl::string_view what, absl::string_view problem) const {
  return absl::StrCat("redis state store at ", options_.uri.Address(), ": ", what, ": ", problem);
}

absl::Status RedisConnection::IoError(absl::string_view what) const {
  const int err = context_->err;
  const std::string detail = context_->errstr;
  if (err == REDIS_ERR_OOM) return absl::ResourceExhaustedError(Message(what, "out of memory"));
  if (err == REDIS_ERR_PROTOCOL) {
    return absl::InternalError(Message(what, absl::StrCat("protocol error: ", detail)));
  }
  // A receive timeout surfaces as EAGAIN from the blocking socket (SO_RCVTIMEO).
  if (err == REDIS_ERR_IO &&
      (detail == std::strerror(EAGAIN) || detail == std::strerror(EWOULDBLOCK))) {
    return absl::UnavailableError(Message(
        what, absl::StrCat("no reply within ", absl::FormatDuration(options_.command_timeout),
                           " (timed out)")));
  }
  if (err == REDIS_ERR_EOF) {
    return absl::UnavailableError(Message(what, "the connection was closed (Redis went away?)"));
  }
  return absl::UnavailableError(Message(what, absl::StrCat("I/O error: ", detail)));
}

absl::Status RedisConnection::ErrorReply(absl::string_view error, absl::string_view what) const {
  if (HasCode(error, "NOAUTH")) {
    return absl::UnavailableError(Message(
        what, absl::StrCat("Redis needs a password (", error,
                           "); set --state-store-password-file or RWKV_STATE_STORE_PASSWORD")));
  }
  if (HasCode(error, "WRONGPASS")) {
    return absl::UnavailableError(
        Message(what, absl::StrCat("the password was refused (", error, ")")));
  }
  for (absl::string_view code : {"LOADING", "READONLY", "MASTERDOWN", "BUSY", "TRYAGAIN"}) {
    if (HasCode(error, code)) {
      return absl::UnavailableError(Message(what, absl::StrCat("Redis cannot serve now: ", error)));
    }
  }
  if (HasCode(error, "OOM")) {
    return absl::ResourceExhaustedError(
        Message(what, absl::StrCat("Redis is out of memory: ", error)));
  }
  if (HasCode(error, "RWKVDATALOSS")) {
    return absl::DataLossError(Message(what, error.substr(std::strlen("RWKVDATALOSS "))));
  }
  return absl::InternalError(Message(what, absl::StrCat("Redis replied with an error: ", error)));
}

absl::StatusOr<RedisReply> RedisConnection::Send(const std::vector<absl::string_view>& args,
                                                 absl::string_view what) {
  if (broken()) return IoError(what);
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (absl::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(args.size()), argv.data(), lengths.data())));
  if (reply == nullptr) return IoError(what);
  return reply;
}

absl::StatusOr<RedisReply> RedisConnection::Command(const std::vector<absl::string_view>& args,
                                                    absl::string_view what) {
  absl::StatusOr<RedisReply> reply = Send(args, what);
  if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR) {
    return ErrorReply(absl::string_view((*reply)->str, (*reply)->len), what);
  }
  return reply;
}

absl::StatusOr<std::string> RedisConnection::Load(const RedisScript& script,
                                                  absl::string_view what) {
  absl::StatusOr<RedisReply> reply = Command(
      {"SCRIPT", "LOAD", script.text}, absl::StrCat(what, " (loading script ", script.name, ")"));
  if (!reply.ok()) return reply.status();
  if ((*reply)->type != REDIS_REPLY_STRING) {
    return absl::InternalError(Message(script.name, "SCRIPT LOAD did not return a digest"));
  }
  std::string sha((*reply)->str, (*reply)->len);
  shas_[&script] = sha;
  return sha;
}

absl::StatusOr<RedisReply> RedisConnection::Eval(const RedisScript& script,
                                                 const std::vector<absl::string_view>& args,
                                                 absl::string_view what) {
  for (int attempt = 0;; ++attempt) {
    auto known = shas_.find(&script);
    std::string sha;
    if (known != shas_.end()) {
      sha = known->second;
    } else {
      absl::StatusOr<std::string> loaded = Load(script, what);
      if (!loaded.ok()) return loaded.status();
      sha = *std::move(loaded);
    }
    std::vector<absl::string_view> command = {"EVALSHA", sha, "0"};
    command.insert(command.end(), args.begin(), args.end());
    absl::StatusOr<RedisReply> reply = Send(command, what);
    if (!reply.ok()) return reply.status();
    if ((*reply)->type != REDIS_REPLY_ERROR) return reply;
    const absl::string_view error((*reply)->str, (*reply)->len);
    // Redis lost its script cache (a restart, SCRIPT FLUSH): load it again, once.
    if (HasCode(error, "NOSCRIPT") && attempt == 0) {
      shas_.erase(&script);
      continue;
    }
    return ErrorReply(error, what);
  }
}

bool RedisConnection::PeerClosed() const {
  pollfd fd = {context_->fd, POLLIN, 0};
  // Nothing may arrive on an idle connection: readable means EOF (or garbage), so do not use it.
  return poll(&fd, 1, 0) != 0;
}

}  // namespace rwkv::server
