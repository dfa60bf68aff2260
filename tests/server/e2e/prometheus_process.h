// PrometheusProcess: a real Prometheus server (Debian's /usr/bin/prometheus) started by a test on
// 127.0.0.1, scraping one target every second, with its config and storage in a temporary
// directory; queried through its HTTP API and stopped by PID.
//
//   auto prometheus = PrometheusProcess::Start(server->metrics_port());
//   ASSERT_TRUE(prometheus.ok()) << prometheus.status();
//   absl::StatusOr<double> tokens = (*prometheus)->Query("rwkv_generated_tokens_total");
//   (*prometheus)->Stop();
#ifndef RWKV_TESTS_SERVER_E2E_PROMETHEUS_PROCESS_H_
#define RWKV_TESTS_SERVER_E2E_PROMETHEUS_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::testing {

inline constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";

class PrometheusProcess {
 public:
  // Starts Prometheus scraping 127.0.0.1:<target_port>/metrics every second and waits until it
  // is ready. Prometheus cannot bind port 0: its port is picked free just before.
  static absl::StatusOr<std::unique_ptr<PrometheusProcess>> Start(
      int target_port, absl::Duration timeout = absl::Seconds(60));
  ~PrometheusProcess();  // Stop()

  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  // The value of the first sample of an instant query; NOT_FOUND when the result is empty.
  absl::StatusOr<double> Query(const std::string& expression);
  // When the target was last scraped successfully (`up` = 1), or NOT_FOUND.
  absl::StatusOr<absl::Time> LastScrape();

  // SIGTERM to its PID, then SIGKILL if it has not exited after 20 s. Idempotent.
  void Stop();

  // What Prometheus logged (stdout and stderr).
  std::string Log() const;

 private:
  PrometheusProcess() = default;

  ScopedTempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_SERVER_E2E_PROMETHEUS_PROCESS_H_
