// ServerProcess: the real rwkv-server binary, started as a child process on 127.0.0.1 with
// OS-chosen ports (gRPC and the HTTP metrics endpoint), for end-to-end tests over real gRPC.
//
//   auto server = ServerProcess::Start({"--model", TinyModel(), "--state-store", "memory:"});
//   ASSERT_TRUE(server.ok()) << server.status();
//   auto stub = rwkv::v1::Rwkv::NewStub((*server)->Channel());
//   ...
//   EXPECT_EQ((*server)->Terminate(absl::Seconds(30)), 0);   // SIGTERM, exit code
//
// StartLoading returns as soon as both ports are bound, while the model may still be loading
// (for health tests). The destructor kills the process (SIGKILL) if it is still running. A
// server that reported a ThreadSanitizer finding fails the test once it has stopped.
#ifndef RWKV_TESTS_SERVER_E2E_SERVER_PROCESS_H_
#define RWKV_TESTS_SERVER_E2E_SERVER_PROCESS_H_

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace rwkv::testing {

class ServerProcess {
 public:
  // Starts build/bin/rwkv-server with --listen 127.0.0.1:0 --metrics-address 127.0.0.1:0 and
  // `args` (which may override them), and waits until it logs that it is serving (or exits, or
  // `timeout` passes).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& args, absl::Duration timeout = absl::Seconds(60));
  // The same, but returns once the ports are bound (logged), before the model has loaded.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> StartLoading(
      const std::vector<std::string>& args, absl::Duration timeout = absl::Seconds(60));
  ~ServerProcess();

  int port() const { return port_; }
  // The HTTP endpoint's port (/metrics, /healthz, /readyz); 0 when the server has none.
  int metrics_port() const { return metrics_port_; }
  // The OpenAI-compatible API's port (--http-address); 0 when the server has none.
  int http_port() const { return http_port_; }
  pid_t pid() const { return pid_; }
  std::string Address() const;
  std::shared_ptr<grpc::Channel> Channel() const;

  // Sends `signal` and waits up to `timeout` for the exit; returns the exit code, 128 + signal
  // when killed by one, or -1 on timeout (the process is then killed).
  int Stop(int signal, absl::Duration timeout);
  int Terminate(absl::Duration timeout) { return Stop(15, timeout); }
  void Kill() { Stop(9, absl::Seconds(10)); }
  // SIGSTOP / SIGCONT: a replica frozen in the middle of its work (a long GC pause, a stopped
  // VM), which its clients and the store see as silent until it resumes. Stop resumes it first.
  void Pause();
  void Resume();

  // Everything the server wrote to stderr so far.
  std::string Log() const;
  // Waits until the log contains `text`; false if the process ended or `timeout` passed first.
  bool WaitForLog(const std::string& text, absl::Duration timeout) const;

 private:
  ServerProcess() = default;
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Launch(
      const std::vector<std::string>& args, bool until_serving, absl::Duration timeout);
  void ReadLog(int fd);
  // Fails the running test when the server's log holds a ThreadSanitizer report (TSan build).
  void FailOnSanitizerReport(pid_t pid) const;

  pid_t pid_ = -1;
  bool paused_ = false;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  std::thread reader_;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

// Paths of the binaries under test.
std::string ServerBinary();
std::string GenerateBinary();

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_SERVER_E2E_SERVER_PROCESS_H_
