// StateBudget: the bytes that turns in flight (queued or running) may hold, so that a flood of
// requests is refused before the server loads states it cannot keep (--max-inflight-state-bytes).
//
//   StateBudget budget(StateBudget::DefaultLimit(turn_bytes, max_batch_sequences));
//   RWKV_ASSIGN_OR_RETURN(StateBudget::Reservation bytes,
//                         budget.Reserve(StateBudget::TurnBytes(config, prompt.size())));
//   ...                    // load the state, run the turn
//   bytes.Release();       // or let it go out of scope: given back exactly once
//
// A turn reserves its bytes when it is accepted, before anything is loaded, and gives them back
// when it has finished (however it ends). Past the limit, Reserve is RESOURCE_EXHAUSTED at once.
// The hot cache (--hot-cache-bytes) is a separate budget.
//
// Thread-safe. The budget must outlive its reservations.
#ifndef RWKV_SERVER_TURNS_STATE_BUDGET_H_
#define RWKV_SERVER_TURNS_STATE_BUDGET_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/model/model_config.h"
#include "engine/sampler/sampler.h"

namespace rwkv::server {

class StateBudget {
 public:
  // Bytes reserved from a budget until destroyed or released. Move-only.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation() { Release(); }

    int64_t bytes() const { return bytes_; }
    // Gives the bytes back now; later calls (and the destructor) do nothing.
    void Release();

   private:
    friend class StateBudget;
    Reservation(StateBudget* budget, int64_t bytes) : budget_(budget), bytes_(bytes) {}

    StateBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  // What one turn holds while it is in flight: the model's state, the buffers of a sampler with
  // `sampling` and its prompt's tokens.
  static int64_t TurnBytes(const engine::ModelConfig& config, size_t prompt_tokens,
                           const engine::SamplingParams& sampling = {});
  // The most any turn with a prompt of `prompt_tokens` holds (a sampler that cuts by mass).
  static int64_t LargestTurnBytes(const engine::ModelConfig& config, size_t prompt_tokens);
  // The default limit: a full batch running and as many turns again waiting
  // (2 * max_batch_sequences turns of `turn_bytes`), but at least 1 GiB, so that a small model
  // stays bounded by --max-batch-sequences and --max-queued-requests alone.
  static int64_t DefaultLimit(int64_t turn_bytes, int max_batch_sequences);

  explicit StateBudget(int64_t limit_bytes) : limit_(limit_bytes) {}
  StateBudget(const StateBudget&) = delete;
  StateBudget& operator=(const StateBudget&) = delete;

  // `bytes` more, or RESOURCE_EXHAUSTED naming the limit when they would pass it.
  absl::StatusOr<Reservation> Reserve(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  int64_t limit() const { return limit_; }
  // Bytes reserved now (the rwkv_inflight_state_bytes gauge).
  int64_t used() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Give(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  const int64_t limit_;
  mutable absl::Mutex mu_;
  int64_t used_ ABSL_GUARDED_BY(mu_) = 0;
};

// "1.2 GiB", "640 KiB", "12 bytes": a byte count for people.
std::string HumanBytes(int64_t bytes);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_TURNS_STATE_BUDGET_H_
