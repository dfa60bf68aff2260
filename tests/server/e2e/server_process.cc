#include "tests/server/e2e/server_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

extern char** environ;

namespace rwkv::testing {

std::string ServerBinary() { return absl::StrCat(RWKV_BIN_DIR, "/rwkv-server"); }
std::string GenerateBinary() { return absl::StrCat(RWKV_BIN_DIR, "/rwkv-generate"); }

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& args, absl::Duration timeout) {
  // f32 by default, so that streams compare exactly with the in-process float32 engine; a
  // test may pass its own --precision (the last one wins).
  std::vector<std::string> argv_strings = {ServerBinary(), "--listen", "127.0.0.1:0",
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

  // The server logs "listening on ... (port N)" and then "serving ..." once it is ready.
  absl::MutexLock lock(&process->mu_);
  auto ready = [p = process.get()]() {
    return p->eof_ || p->log_.find(" serving ") != std::string::npos;
  };
  process->mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  const std::string log = process->log_;
  const size_t at = log.find("(port ");
  if (at == std::string::npos || log.find(" serving ") == std::string::npos) {
    return absl::UnavailableError(absl::StrCat("rwkv-server did not become ready:\n", log));
  }
  const size_t end = log.find(')', at);
  if (!absl::SimpleAtoi(log.substr(at + 6, end - at - 6), &process->port_)) {
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
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  return result;
}

std::string ServerProcess::Log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop(SIGKILL, absl::Seconds(10));
  if (reader_.joinable()) reader_.join();
}

}  // namespace rwkv::testing
