#include "tests/util/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/http_get.h"
#include "tests/util/wait_for.h"

namespace rwkv::testing {
namespace {

constexpr char kRedisBinary[] = "/usr/bin/redis-server";

RedisValue FromReply(const redisReply& reply) {
  RedisValue value;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      value.type = RedisValue::Type::kString;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      value.type = RedisValue::Type::kStatus;
      value.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      value.type = RedisValue::Type::kInteger;
      value.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      value.type = RedisValue::Type::kArray;
      for (size_t i = 0; i < reply.elements; ++i)
        value.elements.push_back(FromReply(*reply.element[i]));
      break;
    default:
      break;
  }
  return value;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const Options& options) {
  if (access(kRedisBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        kRedisBinary, " is missing: install Debian's redis-server (scripts/install-deps.sh)"));
  }
  auto server = std::unique_ptr<RedisServer>(new RedisServer());
  server->options_ = options;
  server->port_ = PickFreePort();
  std::filesystem::create_directories(server->dir_.path());
  std::ofstream config(server->dir_.path() + "/redis.conf");
  config << "port " << server->port_ << "\n"
         << "bind 127.0.0.1\n"
         << "dir " << server->dir_.path() << "\n"
         << "logfile " << server->dir_.path() << "/redis.log\n"
         << "daemonize no\n"
         << "appendonly yes\n"
         << "appendfsync always\n"
         << "save \"\"\n";
  if (!options.password.empty()) config << "requirepass \"" << options.password << "\"\n";
  config.close();
  if (absl::Status status = server->Launch(); !status.ok()) return status;
  return server;
}

absl::Status RedisServer::Launch() {
  const std::string config = dir_.path() + "/redis.conf";
  const char* argv[] = {kRedisBinary, config.c_str(), nullptr};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // Dies with the test (only async-signal-safe calls between fork and exec).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    const int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
    }
    execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  absl::Status answer = absl::UnavailableError("not asked yet");
  const bool up = WaitFor(absl::Seconds(60), [&] {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    absl::StatusOr<RedisValue> pong = Command({"PING"});
    answer = pong.status();
    return pong.ok();
  });
  if (pid_ < 0) return absl::InternalError(absl::StrCat("redis-server exited:\n", Log()));
  if (!up) {
    Signal(SIGKILL, absl::Seconds(10));
    return absl::UnavailableError(
        absl::StrCat("redis-server never answered PING (", answer.message(), "):\n", Log()));
  }
  return absl::OkStatus();
}

RedisServer::~RedisServer() { Stop(); }

std::string RedisServer::uri(int db) const {
  return absl::StrCat("redis://127.0.0.1:", port_, db == 0 ? "" : absl::StrCat("/", db));
}

void RedisServer::Signal(int signal, absl::Duration wait) {
  if (pid_ <= 0) return;
  if (paused_) kill(pid_, SIGCONT);
  paused_ = false;
  kill(pid_, signal);
  const absl::Time deadline = absl::Now() + wait;
  while (waitpid(pid_, nullptr, WNOHANG) != pid_) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = -1;
}

void RedisServer::Kill() { Signal(SIGKILL, absl::Seconds(20)); }
void RedisServer::Stop() { Signal(SIGTERM, absl::Seconds(20)); }

absl::Status RedisServer::Restart() {
  if (pid_ > 0) Stop();
  return Launch();
}

void RedisServer::Pause() {
  if (pid_ <= 0 || paused_) return;
  kill(pid_, SIGSTOP);
  paused_ = true;
}

void RedisServer::Resume() {
  if (pid_ <= 0 || !paused_) return;
  kill(pid_, SIGCONT);
  paused_ = false;
}

absl::StatusOr<RedisValue> RedisServer::Command(const std::vector<std::string>& args) const {
  redisContext* context = redisConnectWithTimeout("127.0.0.1", port_, {5, 0});
  if (context == nullptr) return absl::ResourceExhaustedError("no memory for a connection");
  std::unique_ptr<redisContext, decltype(&redisFree)> owned(context, &redisFree);
  if (context->err != 0) return absl::UnavailableError(context->errstr);
  redisSetTimeout(context, {30, 0});
  auto run = [&](const std::vector<std::string>& command) -> absl::StatusOr<RedisValue> {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : command) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(command.size()), argv.data(), lengths.data()));
    if (reply == nullptr) return absl::UnavailableError(context->errstr);
    std::unique_ptr<redisReply, decltype(&freeReplyObject)> owned_reply(reply, &freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) {
      return absl::InternalError(std::string(reply->str, reply->len));
    }
    return FromReply(*reply);
  };
  if (!options_.password.empty()) {
    absl::StatusOr<RedisValue> auth = run({"AUTH", options_.password});
    if (!auth.ok()) return auth.status();
  }
  return run(args);
}

std::string RedisServer::Log() const {
  std::ifstream file(dir_.path() + "/redis.log");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace rwkv::testing
