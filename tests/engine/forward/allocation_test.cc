// The steady-state engine step allocates nothing: after the first steps of a batch shape, every
// buffer, primitive, memory object and scratchpad is reused. The only allocations left are
// oneDNN 2.6's own bookkeeping inside each primitive execution (a handful per call, which its
// API cannot avoid); they are told apart with MatmulContext::InsideOneDnnCall.
#include <execinfo.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "absl/base/config.h"
#include "gtest/gtest.h"
#include "engine/compute/matmul.h"
#include "engine/engine.h"
#include "tests/util/shared_data.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<int64_t> allocations{0};
}  // namespace

// Prints where the first counted allocations come from (set RWKV_ALLOC_BACKTRACE=1).
void PrintBacktrace() {
  static const bool enabled = std::getenv("RWKV_ALLOC_BACKTRACE") != nullptr;
  if (!enabled || allocations.load() > 3) return;
  counting = false;
  void* frames[32];
  backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
  std::fputs("----\n", stderr);
  counting = true;
}

// Counts every allocation of this test process while `counting` is set. Not under TSan, whose
// runtime defines operator new and delete itself (the test skips there).
#ifndef ABSL_HAVE_THREAD_SANITIZER
void* operator new(size_t size) {
  if (counting.load(std::memory_order_relaxed) &&
      !rwkv::engine::MatmulContext::InsideOneDnnCall()) {
    allocations.fetch_add(1);
    PrintBacktrace();
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's buffer takes it): otherwise a block the library
// allocates is freed by the delete below, which ASan reports as a mismatch.
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  try {
    return operator new(size);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // new is malloc, delete is free
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif  // ABSL_HAVE_THREAD_SANITIZER

namespace rwkv::testing {
namespace {

using engine::Engine;
using engine::LogitsMode;
using engine::Precision;
using engine::SequenceInput;

class AllocationTest : public ::testing::TestWithParam<Precision> {};

TEST_P(AllocationTest, SteadyStateStepsDoNotAllocate) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "allocations are not counted under TSan";
#endif
  for (const char* model : {"tiny-rwkv-7v0-834K-FP32.bin", "tiny-rwkv-6v0-1m-FP32.bin",
                            "tiny-rwkv-5v2-730K-FP32.bin", "tiny-rwkv-4v0-660K-FP32.bin"}) {
    auto engine = Engine::Create({SharedPath(std::string("models/") + model), 2, GetParam()});
    ASSERT_TRUE(engine.ok()) << engine.status();
    // A server-like step: three decoding sequences and one prefill chunk.
    std::vector<std::vector<float>> states(4, (*engine)->InitialState());
    const std::vector<int32_t> one = {42}, chunk = {1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<SequenceInput> batch;
    for (int i = 0; i < 3; ++i) batch.push_back({absl::MakeSpan(states[i]), one});
    batch.push_back({absl::MakeSpan(states[3]), chunk, LogitsMode::kNone});
    for (int warmup = 0; warmup < 3; ++warmup) ASSERT_TRUE((*engine)->Forward(batch).ok());
    allocations = 0;
    counting = true;
    for (int step = 0; step < 10; ++step) {
      if (!(*engine)->Forward(batch).ok()) break;
    }
    counting = false;
    EXPECT_EQ(allocations.load(), 0) << model;
  }
}

INSTANTIATE_TEST_SUITE_P(AllPrecisions, AllocationTest,
                         ::testing::Values(Precision::kF32, Precision::kBf16, Precision::kInt8,
                                           Precision::kInt8Fast, Precision::kQ8_0),
                         [](const auto& info) {
                           std::string name(engine::PrecisionName(info.param));
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace rwkv::testing
