// What every RPC handler needs: the engine's description, the tokenizer, the scheduler, the
// sessions and the I/O pool. Owned by the server; filled in once the model and the store are
// ready (handlers answer UNAVAILABLE before that).
#ifndef RWKV_SERVER_API_SERVICE_CONTEXT_H_
#define RWKV_SERVER_API_SERVICE_CONTEXT_H_

#include <atomic>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "server/api/generate_request.h"
#include "server/api/io_executor.h"
#include "server/api/request_log.h"
#include "server/scheduler/scheduler.h"
#include "server/sessions/session_manager.h"

namespace rwkv::server {

struct ServiceContext {
  // Set (with release semantics) after every pointer below is valid.
  std::atomic<bool> ready{false};
  const engine::Engine* engine = nullptr;
  const engine::Tokenizer* tokenizer = nullptr;
  Scheduler* scheduler = nullptr;
  SessionManager* sessions = nullptr;
  IoExecutor* io = nullptr;
  RequestLog* log = nullptr;
  ServerLimits limits;
  std::string model_source;
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_SERVICE_CONTEXT_H_
