#include "tests/server/e2e/server_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace rwkv::testing {

std::string ServerBinary() { return absl::StrCat(RWKV_BIN_DIR, "/rwkv-server"); }
std::string GenerateBinary() { return absl::StrCat(RWKV_BIN_DIR, "/rwkv-generate"); }

namespace {

// The number after `marker` in `log` (e.g. "(port " -> 40123), or 0.
int NumberAfter(const std::string& log, const std::string& marker) {
  const size_t at = log.find(marker);
  if (at == std::string::npos) return 0;
  const size_t begin = at + marker.size();
  const size_t end = log.find_first_not_of("0123456789", begin);
  int value = 0;
  if (!absl::SimpleAtoi(log.substr(begin, end - begin), &value)) return 0;
  return value;
}

bool IsServing(const std::string& log) {
  // Text logs put a space before the event, JSON logs a quote.
  return log.find(" serving ") != std::string::npos || log.find("\"serving ") != std::string::npos;
}

// The --metrics-address the server gets: the last one in `args`, else port 0.
std::string MetricsAddress(const std::vector<std::string>& args) {
  std::string address = "127.0.0.1:0";
  constexpr absl::string_view kFlag = "--metrics-address";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == kFlag && i + 1 < args.size()) address = args[i + 1];
    if (absl::StartsWith(args[i], absl::StrCat(kFlag, "="))) address = args[i].substr(kFlag.size() + 1);
  }
  return address;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& args, absl::Duration timeout) {
  return Launch(args, /*until_serving=*/true, timeout);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::StartLoading(
    const std::vector<std::string>& args, absl::Duration timeout) {
  return Launch(args, /*until_serving=*/false, timeout);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Launch(
    const std::vector<std::string>& args, bool until_serving, absl::Duration timeout) {
  // f32 by default, so that streams compare exactly with the in-process float32 engine; a
  // test may pass its own --precision (the last one wins). Port 0 for HTTP too, so that tests
  // running in parallel never collide on the default metrics port.
  std::vector<std::string> argv_strings = {ServerBinary(), "--listen",  "127.0.0.1:0",
                                           "--metrics-address", "127.0.0.1:0",
                                           "--threads", "1", "--precision", "f32"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  auto process = std::unique_ptr<ServerProcess>(new ServerProcess());
  const int rc = posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (rc != 0) {
    close(pipe_fds[0]);
    process->pid_ = -1;
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(rc)));
  }
  process->reader_ = std::thread([p = process.get(), fd = pipe_fds[0]] { p->ReadLog(fd); });

  // The server logs "listening on ... (port N)", then "http on ... (metrics port M)" (unless
  // the test turned HTTP off), then "serving ..." once it is ready.
  const bool http = !MetricsAddress(args).empty();
  // With --http-address, "openai api on ... (http port K)" follows the metrics line.
  const bool openai = std::any_of(args.begin(), args.end(), [](const std::string& arg) {
    return absl::StartsWith(arg, "--http-address") || absl::StartsWith(arg, "--http_address");
  });
  absl::MutexLock lock(&process->mu_);
  auto ready = [p = process.get(), until_serving, http, openai]() {
    p->mu_.AssertReaderHeld();
    if (p->eof_) return true;
    if (until_serving) return IsServing(p->log_);
    return p->log_.find("(port ") != std::string::npos &&
           (!http || p->log_.find("(metrics port ") != std::string::npos) &&
           (!openai || p->log_.find("(http port ") != std::string::npos);
  };
  process->mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  const std::string log = process->log_;
  if (!ready() || process->eof_) {
    return absl::UnavailableError(absl::StrCat(
        "rwkv-server did not ", until_serving ? "become ready" : "bind its ports", ":\n", log));
  }
  process->port_ = NumberAfter(log, "(port ");
  process->metrics_port_ = NumberAfter(log, "(metrics port ");
  process->http_port_ = NumberAfter(log, "(http port ");  // logged right after the metrics port
  if (process->port_ == 0) {
    return absl::InternalError(absl::StrCat("no port in the server log:\n", log));
  }
  return process;
}

void ServerProcess::ReadLog(int fd) {
  char buffer[4096];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    absl::MutexLock lock(&mu_);
    log_.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  absl::MutexLock lock(&mu_);
  eof_ = true;
}

std::string ServerProcess::Address() const { return absl::StrCat("127.0.0.1:", port_); }

std::shared_ptr<grpc::Channel> ServerProcess::Channel() const {
  return grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials());
}

int ServerProcess::Stop(int signal_number, absl::Duration timeout) {
  if (pid_ <= 0) return -1;
  // A stopped process would sit on every signal but SIGKILL until the timeout.
  Resume();
  kill(pid_, signal_number);
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  int result = -1;
  while (true) {
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const pid_t pid = pid_;
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  FailOnSanitizerReport(pid);
  return result;
}

void ServerProcess::Pause() {
  if (pid_ <= 0 || paused_) return;
  kill(pid_, SIGSTOP);
  paused_ = true;
}

void ServerProcess::Resume() {
  if (pid_ <= 0 || !paused_) return;
  kill(pid_, SIGCONT);
  paused_ = false;
}

void ServerProcess::FailOnSanitizerReport(pid_t pid) const {
  // A race in the server is a failure of the test that drove it, whatever the server answered.
  const std::string log = Log();
  if (log.find("WARNING: ThreadSanitizer:") != std::string::npos) {
    ADD_FAILURE() << "rwkv-server (pid " << pid << ") reported a ThreadSanitizer finding:\n"
                  << log;
  }
}

std::string ServerProcess::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

bool ServerProcess::WaitForLog(const std::string& text, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto seen = [this, &text]() {
    mu_.AssertReaderHeld();
    return eof_ || log_.find(text) != std::string::npos;
  };
  mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  return log_.find(text) != std::string::npos;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL, absl::Seconds(10));
  if (reader_.joinable()) reader_.join();
}

}  // namespace rwkv::testing
