#include "server/metrics/buckets.h"

namespace rwkv::server::metrics {
namespace {

prometheus::Histogram::BucketBoundaries PowersOfTwo(int largest_exponent) {
  prometheus::Histogram::BucketBoundaries bounds;
  for (int e = 0; e <= largest_exponent; ++e) bounds.push_back(static_cast<double>(1 << e));
  return bounds;
}

}  // namespace

prometheus::Histogram::BucketBoundaries RequestSecondsBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,   1,      2.5,   5,    10,    20,   30,  60};
}

prometheus::Histogram::BucketBoundaries FineSecondsBuckets() {
  prometheus::Histogram::BucketBoundaries bounds = {0.0001, 0.00025, 0.0005};
  for (double b : RequestSecondsBuckets()) bounds.push_back(b);
  return bounds;
}

prometheus::Histogram::BucketBoundaries TokenCountBuckets() { return PowersOfTwo(16); }

prometheus::Histogram::BucketBoundaries BatchBuckets() { return PowersOfTwo(12); }

}  // namespace rwkv::server::metrics
