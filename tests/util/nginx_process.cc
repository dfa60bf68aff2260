#include "tests/util/nginx_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/util/http_get.h"
#include "tests/util/shared_data.h"

extern char** environ;

namespace rwkv::testing {
namespace {

// The line of the shipped site file that the test replaces with its own port.
constexpr char kListenLine[] = "listen 8080 http2;";
constexpr char kUpstreamsInclude[] = "include rwkv-upstreams.conf;";
constexpr char kOpenAiListenLine[] = "listen 8081;";

// The main configuration around the site file: everything nginx writes goes to `dir`.
std::string MainConfig(const std::string& dir, bool openai) {
  std::string config = absl::StrCat("worker_processes 1;\n",
                                    "error_log ", dir, "/error.log info;\n",
                                    "events { worker_connections 1024; }\n", "http {\n");
  for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    absl::StrAppend(&config, "  ", temp, "_temp_path ", dir, "/tmp/", temp, ";\n");
  }
  absl::StrAppend(&config, "  include rwkv-grpc.conf;\n",
                  openai ? "  include rwkv-openai.conf;\n" : "", "}\n");
  return config;
}

void WriteUpstreams(const std::string& path, const std::vector<std::string>& upstreams) {
  std::ofstream file(path);
  for (const std::string& upstream : upstreams) {
    file << "server " << upstream << " max_fails=1 fail_timeout=5s;\n";
  }
}

bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NginxProcess>> NginxProcess::Start(
    const std::string& site_config_path, const std::vector<std::string>& upstreams,
    absl::Duration timeout, const std::vector<std::string>& openai_upstreams) {
  if (access(kNginxBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        kNginxBinary, " is missing: install Debian's nginx-light (scripts/install-deps.sh)"));
  }
  absl::StatusOr<std::string> site = ReadFileBytes(site_config_path);
  if (!site.ok()) return site.status();
  for (const char* needed : {kListenLine, kUpstreamsInclude}) {
    if (site->find(needed) == std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat(site_config_path, " has no `", needed, "` line for the test to use"));
    }
  }
  auto process = std::unique_ptr<NginxProcess>(new NginxProcess());
  const std::string dir = process->dir_.path();
  std::filesystem::create_directories(dir + "/tmp");
  process->port_ = PickFreePort();
  const bool openai = !openai_upstreams.empty();
  std::ofstream(dir + "/nginx.conf") << MainConfig(dir, openai);
  std::ofstream(dir + "/rwkv-grpc.conf") << absl::StrReplaceAll(
      *site, {{kListenLine, absl::StrCat("listen 127.0.0.1:", process->port_, " http2;")}});
  // The files the site includes beside it (its routes), as shipped.
  const std::filesystem::path shipped = std::filesystem::path(site_config_path).parent_path();
  if (openai) {
    absl::StatusOr<std::string> openai_site =
        ReadFileBytes((shipped / "rwkv-openai.conf").string());
    if (!openai_site.ok()) return openai_site.status();
    if (openai_site->find(kOpenAiListenLine) == std::string::npos) {
      return absl::FailedPreconditionError("rwkv-openai.conf has no `listen 8081;` line");
    }
    process->openai_port_ = PickFreePort();
    std::ofstream(dir + "/rwkv-openai.conf") << absl::StrReplaceAll(
        *openai_site,
        {{kOpenAiListenLine, absl::StrCat("listen 127.0.0.1:", process->openai_port_, ";")}});
    WriteUpstreams(dir + "/rwkv-openai-upstreams.conf", openai_upstreams);
  }
  for (const char* included : {"rwkv-grpc-routes.conf", "rwkv-openai-routes.conf"}) {
    std::error_code error;
    if (std::filesystem::exists(shipped / included)) {
      std::filesystem::copy_file(shipped / included, std::filesystem::path(dir) / included, error);
    }
    if (error) return absl::InternalError(absl::StrCat("copying ", included, ": ", error.message()));
  }
  WriteUpstreams(dir + "/rwkv-upstreams.conf", upstreams);

  std::vector<std::string> args = {kNginxBinary, "-p", dir + "/", "-c", dir + "/nginx.conf",
                                   "-g", absl::StrCat("daemon off; pid ", dir, "/nginx.pid;")};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string out = dir + "/nginx.out";
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // A process group of its own, led by the master: the last resort in Stop() kills the workers
  // with it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  const int rc = posix_spawn(&process->pid_, argv[0], &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    process->pid_ = -1;
    return absl::InternalError(absl::StrCat("cannot start nginx: ", std::strerror(rc)));
  }
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (Accepts(process->port_)) return process;
    if (waitpid(process->pid_, nullptr, WNOHANG) == process->pid_) {
      process->pid_ = -1;
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::UnavailableError(absl::StrCat("nginx did not start:\n", process->Log()));
}

std::string NginxProcess::Address() const { return absl::StrCat("127.0.0.1:", port_); }

void NginxProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGQUIT);
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (waitpid(pid_, nullptr, WNOHANG) != pid_) {
    if (absl::Now() > deadline) {
      kill(-pid_, SIGKILL);  // the master and its workers
      waitpid(pid_, nullptr, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  pid_ = -1;
}

std::string NginxProcess::Log() const {
  std::string log;
  for (const char* name : {"/error.log", "/nginx.out"}) {
    absl::StatusOr<std::string> text = ReadFileBytes(dir_.path() + name);
    if (text.ok()) absl::StrAppend(&log, "---- ", name + 1, "\n", *text);
  }
  return log;
}

NginxProcess::~NginxProcess() { Stop(); }

}  // namespace rwkv::testing
