#include "tests/server/e2e/prometheus_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "tests/util/http_get.h"
#include "tests/util/shared_data.h"

extern char** environ;

namespace rwkv::testing {
namespace {

std::string Config(int target_port) {
  return absl::StrCat(
      "global:\n"
      "  scrape_interval: 1s\n"
      "  scrape_timeout: 1s\n"
      "  evaluation_interval: 1s\n"
      "scrape_configs:\n"
      "  - job_name: rwkv-server\n"
      "    static_configs:\n"
      "      - targets: ['127.0.0.1:",
      target_port, "']\n");
}

// data.result[0].value of a Prometheus instant-query response: [unix time, "value"].
absl::StatusOr<std::pair<double, double>> FirstSample(const std::string& body) {
  google::protobuf::Struct response;
  if (!google::protobuf::util::JsonStringToMessage(body, &response).ok()) {
    return absl::DataLossError(absl::StrCat("not JSON: ", body));
  }
  const auto& fields = response.fields();
  if (!fields.contains("status") || fields.at("status").string_value() != "success") {
    return absl::InternalError(absl::StrCat("query failed: ", body));
  }
  const auto& result = fields.at("data").struct_value().fields().at("result").list_value();
  if (result.values_size() == 0) return absl::NotFoundError("empty result");
  const auto& value = result.values(0).struct_value().fields().at("value").list_value();
  double sample = 0;
  if (value.values_size() != 2 || !absl::SimpleAtod(value.values(1).string_value(), &sample)) {
    return absl::DataLossError(absl::StrCat("unexpected sample in ", body));
  }
  return std::make_pair(value.values(0).number_value(), sample);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrometheusProcess>> PrometheusProcess::Start(
    int target_port, absl::Duration timeout) {
  if (access(kPrometheusBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        kPrometheusBinary, " is missing: install Debian's prometheus (scripts/install-deps.sh)"));
  }
  auto process = std::unique_ptr<PrometheusProcess>(new PrometheusProcess());
  const std::string dir = process->dir_.path();
  std::filesystem::create_directories(dir + "/data");
  std::ofstream(dir + "/prometheus.yml") << Config(target_port);
  process->port_ = PickFreePort();
  std::vector<std::string> args = {
      kPrometheusBinary,
      absl::StrCat("--config.file=", dir, "/prometheus.yml"),
      absl::StrCat("--storage.tsdb.path=", dir, "/data"),
      absl::StrCat("--web.listen-address=127.0.0.1:", process->port_),
      "--log.level=warn"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir + "/prometheus.log";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  const int rc = posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    process->pid_ = -1;
    return absl::InternalError(absl::StrCat("cannot start prometheus: ", std::strerror(rc)));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<HttpResponse> ready = HttpGet(process->port_, "/-/ready", absl::Seconds(2));
    if (ready.ok() && ready->status == 200) return process;
    if (waitpid(process->pid_, nullptr, WNOHANG) == process->pid_) {
      process->pid_ = -1;
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::UnavailableError(absl::StrCat("prometheus did not become ready:\n", process->Log()));
}

absl::StatusOr<double> PrometheusProcess::Query(const std::string& expression) {
  absl::StatusOr<HttpResponse> response =
      HttpGet(port_, absl::StrCat("/api/v1/query?query=", UrlEncode(expression)));
  if (!response.ok()) return response.status();
  if (response->status != 200) {
    return absl::InternalError(absl::StrCat("HTTP ", response->status, ": ", response->body));
  }
  absl::StatusOr<std::pair<double, double>> sample = FirstSample(response->body);
  if (!sample.ok()) return sample.status();
  return sample->second;
}

absl::StatusOr<absl::Time> PrometheusProcess::LastScrape() {
  // timestamp() of the newest `up` sample is when that scrape happened.
  absl::StatusOr<double> at = Query("timestamp(up == 1)");
  if (!at.ok()) return at.status();
  return absl::FromUnixMillis(static_cast<int64_t>(*at * 1000));
}

void PrometheusProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (waitpid(pid_, nullptr, WNOHANG) != pid_) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  pid_ = -1;
}

std::string PrometheusProcess::Log() const {
  absl::StatusOr<std::string> log = ReadFileBytes(dir_.path() + "/prometheus.log");
  return log.ok() ? *log : std::string();
}

PrometheusProcess::~PrometheusProcess() { Stop(); }

}  // namespace rwkv::testing
