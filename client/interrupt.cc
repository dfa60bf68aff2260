#include "client/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace rwkv::client {
namespace {

int g_pipe_write_fd = -1;

// Async-signal-safe: only write(2), with errno preserved for the interrupted code.
void HandleSigint(int) {
  const int saved_errno = errno;
  const char byte = 1;
  [[maybe_unused]] ssize_t written = write(g_pipe_write_fd, &byte, 1);
  errno = saved_errno;
}

}  // namespace

InterruptWatcher* InterruptWatcher::Install() {
  static InterruptWatcher* const watcher = []() -> InterruptWatcher* {
    int fds[2];
    if (pipe(fds) != 0) return nullptr;
    g_pipe_write_fd = fds[1];
    struct sigaction action = {};
    action.sa_handler = HandleSigint;
    sigemptyset(&action.sa_mask);
    // SA_RESTART: a blocked read of stdin must not fail with EINTR and look like end of input.
    action.sa_flags = SA_RESTART;
    if (sigaction(SIGINT, &action, nullptr) != 0) return nullptr;
    auto* created = new InterruptWatcher();
    std::thread([created, fd = fds[0]] { created->WatchLoop(fd); }).detach();
    return created;
  }();
  return watcher;
}

void InterruptWatcher::WatchLoop(int read_fd) {
  char byte;
  while (true) {
    const ssize_t n = read(read_fd, &byte, 1);
    if (n == 1) {
      OnInterrupt();
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return;
    }
  }
}

void InterruptWatcher::OnInterrupt() {
  absl::MutexLock lock(&mu_);
  if (call_ == nullptr) {
    std::fflush(stdout);
    std::_Exit(130);
  }
  interrupted_ = true;
  call_->TryCancel();
}

void InterruptWatcher::SetCall(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  call_ = context;
}

InterruptWatcher::ScopedCall::ScopedCall(InterruptWatcher* watcher, grpc::ClientContext* context)
    : watcher_(watcher) {
  if (watcher_ != nullptr) watcher_->SetCall(context);
}

InterruptWatcher::ScopedCall::~ScopedCall() {
  if (watcher_ != nullptr) watcher_->SetCall(nullptr);
}

}  // namespace rwkv::client
