#include "server/turns/io_executor.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace rwkv::server {

IoExecutor::IoExecutor(int threads, int max_queued) : max_queued_(max_queued) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

IoExecutor::~IoExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Status IoExecutor::TryPost(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  if (counted_ >= max_queued_) {
    return absl::ResourceExhaustedError(absl::StrCat("the server's I/O queue is full (", counted_,
                                                     " tasks waiting, --max-io-queue=", max_queued_,
                                                     "); retry later"));
  }
  ++counted_;
  tasks_.push_back({std::move(task), /*counted=*/true});
  return absl::OkStatus();
}

void IoExecutor::Post(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back({std::move(task), /*counted=*/false});
}

int IoExecutor::queued_new_work() const {
  absl::MutexLock lock(&mu_);
  return counted_;
}

void IoExecutor::Work() {
  while (true) {
    Task task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(static_cast<const IoExecutor*>(this), &IoExecutor::HasWork));
      if (tasks_.empty()) return;  // stopping, and everything posted has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
      if (task.counted) --counted_;
    }
    task.run();
  }
}

}  // namespace rwkv::server
