// IoExecutor: a small fixed pool of threads for work that blocks on the state store, so that
// front-end threads (gRPC's callbacks, HTTP handlers) and the engine thread never wait on disk.
//
//   IoExecutor io(4, /*max_queued=*/512);
//   absl::Status posted = io.TryPost([=] { reactor->Finish(...DeleteSession(id)); });
//   if (!posted.ok()) reactor->Finish(ToGrpcStatus(posted));   // RESOURCE_EXHAUSTED: full
//
// Two kinds of task. New work (a turn to start, a session RPC) goes through TryPost, which is
// refused once max_queued such tasks wait, so that a flood is told to retry instead of growing
// the queue (and the wait of everyone behind it) without end. Work that completes what was
// already accepted (a turn's commit) goes through Post, which is never refused and not counted:
// it is bounded by the accepted work itself.
//
// Tasks run in FIFO order on any of the threads. The destructor runs every task already posted,
// then joins the threads. TryPost and Post may be called from any thread.
#ifndef RWKV_SERVER_TURNS_IO_EXECUTOR_H_
#define RWKV_SERVER_TURNS_IO_EXECUTOR_H_

#include <deque>
#include <functional>
#include <limits>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace rwkv::server {

class IoExecutor {
 public:
  static constexpr int kUnbounded = std::numeric_limits<int>::max();

  // `max_queued`: how many TryPost tasks may wait (not yet running) at once.
  explicit IoExecutor(int threads, int max_queued = kUnbounded);
  ~IoExecutor();
  IoExecutor(const IoExecutor&) = delete;
  IoExecutor& operator=(const IoExecutor&) = delete;

  // New work: RESOURCE_EXHAUSTED (naming the limit, --max-io-queue) when max_queued tasks of
  // new work are waiting; `task` is then dropped unrun.
  absl::Status TryPost(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);
  // The completion of accepted work: always queued.
  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

  // TryPost tasks waiting now.
  int queued_new_work() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Task {
    std::function<void()> run;
    bool counted = false;  // posted by TryPost: counts against max_queued_
  };

  void Work() ABSL_LOCKS_EXCLUDED(mu_);
  bool HasWork() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !tasks_.empty(); }

  const int max_queued_;
  mutable absl::Mutex mu_;
  std::deque<Task> tasks_ ABSL_GUARDED_BY(mu_);
  int counted_ ABSL_GUARDED_BY(mu_) = 0;  // tasks_ posted by TryPost
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // written by the constructor, joined by the destructor
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_IO_EXECUTOR_H_
