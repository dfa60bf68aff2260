// InterruptWatcher: turns Ctrl-C (SIGINT) into a clean cancel of the streaming call in flight.
//
//   InterruptWatcher* interrupts = InterruptWatcher::Install();
//   grpc::ClientContext context;
//   {
//     InterruptWatcher::ScopedCall scoped(interrupts, &context);
//     status = client->Generate(request, on_delta, &done, &context);  // CANCELLED on Ctrl-C
//   }
//   if (interrupts->TakeInterrupted()) return 130;
//
// A signal handler may do almost nothing safely, and certainly not call into gRPC, so the
// handler only writes a byte to a pipe; a watcher thread reads it and calls TryCancel on the
// registered call. With no call registered (waiting for input, a unary call), Ctrl-C flushes
// stdout and exits the process with status 130, as the default action would.
#ifndef RWKV_CLIENT_INTERRUPT_H_
#define RWKV_CLIENT_INTERRUPT_H_

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/client_context.h"

namespace rwkv::client {

class InterruptWatcher {
 public:
  // Installs the SIGINT handler and starts the watcher thread on the first call; returns the
  // process-wide watcher (never destroyed). Null if the handler could not be installed.
  static InterruptWatcher* Install();

  // Registers the call that Ctrl-C cancels (null: none) for the scope's lifetime.
  class ScopedCall {
   public:
    // `watcher` may be null (then nothing happens).
    ScopedCall(InterruptWatcher* watcher, grpc::ClientContext* context);
    ~ScopedCall();
    ScopedCall(const ScopedCall&) = delete;
    ScopedCall& operator=(const ScopedCall&) = delete;

   private:
    InterruptWatcher* watcher_;
  };

  // Whether Ctrl-C cancelled a call since the last TakeInterrupted(); clears the flag.
  bool TakeInterrupted() { return interrupted_.exchange(false); }

 private:
  InterruptWatcher() = default;
  void SetCall(grpc::ClientContext* context);
  void OnInterrupt();
  void WatchLoop(int read_fd);

  absl::Mutex mu_;
  grpc::ClientContext* call_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::atomic<bool> interrupted_{false};
};

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_INTERRUPT_H_
