// Server: rwkv-server assembled: the gRPC endpoint (rwkv.v1.Rwkv, health, reflection), the
// engine, the scheduler, the sessions and their store.
//
//   Server::Options options;  // from flags, see main.cc
//   RWKV_ASSIGN_OR_RETURN(auto server, Server::Start(options));   // listening, health SERVING
//   ...                                                          // until SIGTERM
//   server->Drain();   // NOT_SERVING, no new work, in-flight turns finish or roll back, flush
//
// Start binds the port first (health NOT_SERVING, every RPC UNAVAILABLE), then loads the model
// and opens the store, then reports SERVING.
#ifndef RWKV_SERVER_SERVER_H_
#define RWKV_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/api/generate_request.h"
#include "server/api/io_executor.h"
#include "server/api/request_log.h"
#include "server/api/rwkv_service.h"
#include "server/api/service_context.h"

namespace rwkv::server {

class Server {
 public:
  struct Options {
    std::string model;          // file path or synthetic:<shape>
    std::string tokenizer;      // "", "bytes", "world" or a vocabulary path
    std::string listen = "127.0.0.1:50051";
    std::string state_store;    // "rocksdb:PATH" or "memory:"
    int64_t max_batch_tokens = 512;
    int max_batch_sequences = 64;
    int max_queued_requests = 256;
    absl::Duration session_ttl = absl::ZeroDuration();
    int64_t hot_cache_bytes = int64_t{1} << 30;
    int threads = 0;
    engine::Precision precision = engine::Precision::kF32;
    int io_threads = 4;
    absl::Duration drain_timeout = absl::Seconds(30);
    ServerLimits limits;
  };

  static absl::StatusOr<std::unique_ptr<Server>> Start(const Options& options);
  ~Server();

  // The port actually bound (useful with :0).
  int port() const { return port_; }

  // Graceful shutdown (design §3): health NOT_SERVING, refuse new work, let in-flight turns
  // finish within the drain timeout (the rest are rolled back), flush the store. Idempotent.
  absl::Status Drain();

 private:
  Server() = default;
  absl::Status Listen();
  absl::Status LoadAndServe();
  absl::Status WarmUp();
  void SweepLoop();

  Options options_;
  int port_ = 0;
  RequestLog log_;
  ServiceContext context_;
  std::unique_ptr<RwkvService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Tokenizer> tokenizer_;
  std::unique_ptr<SessionManager> sessions_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<IoExecutor> io_;
  absl::Notification stop_sweeper_;
  std::thread sweeper_;
  bool drained_ = false;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SERVER_H_
