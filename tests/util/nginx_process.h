// NginxProcess: a real nginx (Debian's /usr/sbin/nginx) started by a test on 127.0.0.1 as a gRPC
// balancer, running a shipped site configuration (deploy/nginx/rwkv-grpc.conf) so that the test
// checks what ships. Everything it writes (config, logs, temp files, PID) is in a temporary
// directory; it is stopped by PID.
//
//   auto nginx = NginxProcess::Start(kShippedConfig, {"127.0.0.1:40001", "127.0.0.1:40002"});
//   ASSERT_TRUE(nginx.ok()) << nginx.status();
//   auto channel = grpc::CreateChannel((*nginx)->Address(), grpc::InsecureChannelCredentials());
//
// The site configuration is used as it is, except that its `listen 8080 http2;` becomes a free
// port on 127.0.0.1; the upstream list it includes (rwkv-upstreams.conf) is written from
// `upstreams`, as deploy/nginx/resolve-upstreams.sh writes it in the containers.
#ifndef RWKV_TESTS_UTIL_NGINX_PROCESS_H_
#define RWKV_TESTS_UTIL_NGINX_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/util/scoped_temp_dir.h"

namespace rwkv::testing {

inline constexpr char kNginxBinary[] = "/usr/sbin/nginx";

class NginxProcess {
 public:
  // Writes the configuration and starts nginx in the foreground as a child; returns once it
  // accepts connections on its port. FAILED_PRECONDITION when nginx is not installed or the
  // site file lacks the line to substitute; UNAVAILABLE when nginx does not start (its log is in
  // the message).
  // With `openai_upstreams` (the replicas' --http-address), the OpenAI API's balancer too:
  // rwkv-openai.conf beside the site file, its `listen 8081;` on openai_port().
  static absl::StatusOr<std::unique_ptr<NginxProcess>> Start(
      const std::string& site_config_path, const std::vector<std::string>& upstreams,
      absl::Duration timeout = absl::Seconds(30),
      const std::vector<std::string>& openai_upstreams = {});
  ~NginxProcess();  // Stop()

  int port() const { return port_; }
  int openai_port() const { return openai_port_; }  // 0 without openai_upstreams
  std::string Address() const;
  pid_t pid() const { return pid_; }

  // SIGQUIT (graceful) to its PID, then SIGKILL to its process group (the master and its
  // workers) if it has not exited after 20 s. Idempotent.
  void Stop();

  // The error log and what nginx printed (stdout, where the site's access_log goes).
  std::string Log() const;

 private:
  NginxProcess() = default;

  ScopedTempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int openai_port_ = 0;
};

}  // namespace rwkv::testing

#endif  // RWKV_TESTS_UTIL_NGINX_PROCESS_H_
