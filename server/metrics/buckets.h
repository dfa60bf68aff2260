// Histogram bucket boundaries for CPU serving, in base units (seconds, tokens, rows).
#ifndef RWKV_SERVER_METRICS_BUCKETS_H_
#define RWKV_SERVER_METRICS_BUCKETS_H_

#include "prometheus/histogram.h"

namespace rwkv::server::metrics {

// Request-level times (TTFT, inter-token, end-to-end, queue, prefill): 1 ms to 60 s.
prometheus::Histogram::BucketBoundaries RequestSecondsBuckets();
// Engine steps and store operations, which take well under a millisecond with a tiny model or
// the memory store: 100 us to 60 s.
prometheus::Histogram::BucketBoundaries FineSecondsBuckets();
// Tokens per request: 1 to 65536 (the largest prompt accepted by default), powers of two.
prometheus::Histogram::BucketBoundaries TokenCountBuckets();
// Rows and sequences per engine step: 1 to 4096, powers of two.
prometheus::Histogram::BucketBoundaries BatchBuckets();

}  // namespace rwkv::server::metrics

#endif  // RWKV_SERVER_METRICS_BUCKETS_H_
