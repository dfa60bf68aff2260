#include "tests/server/metrics/metric_values.h"

#include <vector>

#include "prometheus/metric_family.h"

namespace rwkv::testing {
namespace {

const prometheus::ClientMetric* Find(prometheus::Registry& registry, const std::string& name,
                                     const MetricLabels& labels,
                                     std::vector<prometheus::MetricFamily>& families) {
  families = registry.Collect();
  for (const prometheus::MetricFamily& family : families) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      size_t matched = 0;
      for (const auto& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched == labels.size()) return &metric;
    }
  }
  return nullptr;
}

}  // namespace

double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const MetricLabels& labels) {
  std::vector<prometheus::MetricFamily> families;
  const prometheus::ClientMetric* metric = Find(registry, name, labels, families);
  if (metric == nullptr) return -1;
  for (const auto& family : families) {
    if (family.name == name && family.type == prometheus::MetricType::Gauge) {
      return metric->gauge.value;
    }
  }
  return metric->counter.value;
}

int64_t HistogramCount(prometheus::Registry& registry, const std::string& name,
                       const MetricLabels& labels) {
  std::vector<prometheus::MetricFamily> families;
  const prometheus::ClientMetric* metric = Find(registry, name, labels, families);
  return metric == nullptr ? -1 : static_cast<int64_t>(metric->histogram.sample_count);
}

double HistogramSum(prometheus::Registry& registry, const std::string& name,
                    const MetricLabels& labels) {
  std::vector<prometheus::MetricFamily> families;
  const prometheus::ClientMetric* metric = Find(registry, name, labels, families);
  return metric == nullptr ? -1 : metric->histogram.sample_sum;
}

}  // namespace rwkv::testing
