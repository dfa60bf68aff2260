// Reading metric values back out of a prometheus::Registry in tests.
//
//   EXPECT_EQ(MetricValue(registry, "rwkv_requests_total", {{"method", "Generate"}}), 3);
//   EXPECT_EQ(HistogramCount(registry, "rwkv_time_to_first_token_seconds"), 3);
//
// `labels` must all match (other labels of the series are ignored); a missing series reads -1.
#ifndef RWKV_TESTS_SERVER_METRICS_METRIC_VALUES_H_
#define RWKV_TESTS_SERVER_METRICS_METRIC_VALUES_H_

#include <cstdint>
#include <map>
#include <string>

#include "prometheus/registry.h"

namespace rwkv::testing {

using MetricLabels = std::map<std::string, std::string>;

// A counter's or gauge's value.
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const MetricLabels& labels = {});
// A histogram's observation count and sum.
int64_t HistogramCount(prometheus::Registry& registry, const std::string& name,
                       const MetricLabels& labels = {});
double HistogramSum(prometheus::Registry& registry, const std::string& name,
                    const MetricLabels& labels = {});

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_SERVER_METRICS_METRIC_VALUES_H_
