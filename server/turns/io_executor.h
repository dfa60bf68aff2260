// IoExecutor: a small fixed pool of threads for work that blocks on the state store, so that
// front-end threads (gRPC's callbacks, HTTP handlers) and the engine thread never wait on disk.
//
//   IoExecutor io(4);
//   io.Post([=] { reactor->Finish(ToGrpcStatus(sessions->DeleteSession(id))); });
//
// Tasks run in FIFO order on any of the threads. The destructor runs every task already posted,
// then joins the threads. Post may be called from any thread.
#ifndef RWKV_SERVER_TURNS_IO_EXECUTOR_H_
#define RWKV_SERVER_TURNS_IO_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace rwkv::server {

class IoExecutor {
 public:
  explicit IoExecutor(int threads);
  ~IoExecutor();
  IoExecutor(const IoExecutor&) = delete;
  IoExecutor& operator=(const IoExecutor&) = delete;

  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mu_);
  bool HasWork() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_ || !tasks_.empty(); }

  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // written by the constructor, joined by the destructor
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_IO_EXECUTOR_H_
