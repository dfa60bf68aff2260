// InFlightTable: which sessions have a change in flight (a turn, or a create, delete, fork or
// sweep in progress), so that at most one runs per session at a time.
//
//   RWKV_ASSIGN_OR_RETURN(InFlightTable::Hold hold, in_flight.Acquire("chat-1"));
//   ... read and write the session's keys ...
//   // ~Hold releases the mark (or move the Hold into whatever keeps the session busy)
//
// Acquire never waits: a second Acquire of a held ID is ABORTED at once (the client retries).
//
// Thread-safe. A Hold must not outlive its table.
#ifndef RWKV_SERVER_SESSIONS_IN_FLIGHT_TABLE_H_
#define RWKV_SERVER_SESSIONS_IN_FLIGHT_TABLE_H_

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace rwkv::server {

class InFlightTable {
 public:
  // The mark of one ID, released when destroyed, reset or assigned over. Movable; a moved-from or
  // default-constructed Hold holds nothing.
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& other) noexcept;
    Hold& operator=(Hold&& other) noexcept;
    ~Hold() { Reset(); }

    bool held() const { return table_ != nullptr; }
    // Releases the mark now (no-op when nothing is held).
    void Reset();

   private:
    friend class InFlightTable;
    Hold(InFlightTable* table, std::string id) : table_(table), id_(std::move(id)) {}
    InFlightTable* table_ = nullptr;
    std::string id_;
  };

  InFlightTable() = default;
  InFlightTable(const InFlightTable&) = delete;
  InFlightTable& operator=(const InFlightTable&) = delete;

  // ABORTED "session <id> already has a turn in flight" while another Hold of `id` exists.
  absl::StatusOr<Hold> Acquire(absl::string_view id) ABSL_LOCKS_EXCLUDED(mu_);
  bool Contains(absl::string_view id) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Release(absl::string_view id) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rwkv::server

#endif  // RWKV_SERVER_SESSIONS_IN_FLIGHT_TABLE_H_
