#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace rwkv::server::http {
namespace {

// How often suspended connections are checked for a client that has left: short next to a long
// prefill, and a few hundred cheap poll() calls per second at thousands of open connections.
constexpr absl::Duration kPeerCheckInterval = absl::Milliseconds(250);

}  // namespace

struct HttpServer::Slot {
  std::shared_ptr<HttpExchange> exchange;
  std::string body;
  bool too_large = false;
  bool dispatched = false;
};

namespace {

// What an HTTPS connection keeps (its socket context): the credentials of its handshake.
struct TlsPin {
  TlsCertificates* certificates;
  std::shared_ptr<const TlsCredentials> credentials;
};

}  // namespace

struct HttpServer::Callbacks {
  static MHD_Result Request(void* cls, MHD_Connection* connection, const char* url,
                            const char* method, const char* /*version*/, const char* upload_data,
                            size_t* upload_data_size, void** req_cls) {
    auto* slot = static_cast<Slot*>(*req_cls);
    const bool ok = static_cast<HttpServer*>(cls)->Handle(connection, slot, url, method,
                                                          upload_data, upload_data_size);
    *req_cls = slot;  // created on the first call, kept until Completed
    return ok ? MHD_YES : MHD_NO;
  }
  // A connection opens or closes: over HTTPS it gets the holder of its credentials.
  static void Connection(void* cls, MHD_Connection* /*connection*/, void** socket_context,
                         MHD_ConnectionNotificationCode toe) {
    auto* server = static_cast<HttpServer*>(cls);
    if (server->options_.tls == nullptr) return;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
      *socket_context = new TlsPin{server->options_.tls.get(), nullptr};
    } else {
      delete static_cast<TlsPin*>(*socket_context);
      *socket_context = nullptr;
    }
  }
  // GnuTLS asks for the certificate of a handshake (gnutls_certificate_retrieve_function2).
  static int Certificate(gnutls_session_t session, const gnutls_datum_t* /*req_ca_rdn*/,
                         int /*nreqs*/, const gnutls_pk_algorithm_t* /*pk_algos*/,
                         int /*pk_algos_length*/, gnutls_pcert_st** chain,
                         unsigned int* chain_length, gnutls_privkey_t* key) {
    // The callback has no closure: libmicrohttpd makes the session's pointer its connection
    // (gnutls_session_set_ptr), whose socket context is the TlsPin made above.
    auto* connection = static_cast<MHD_Connection*>(gnutls_session_get_ptr(session));
    const MHD_ConnectionInfo* info =
        connection != nullptr
            ? MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT)
            : nullptr;
    auto* pin = info != nullptr ? static_cast<TlsPin*>(info->socket_context) : nullptr;
    if (pin == nullptr) return -1;  // the handshake fails
    // GnuTLS keeps these pointers for the session's life without owning them: the connection
    // holds them (a renegotiation gets the same ones) until it closes.
    if (pin->credentials == nullptr) pin->credentials = pin->certificates->Current();
    *chain = pin->credentials->chain();
    *chain_length = pin->credentials->chain_length();
    *key = pin->credentials->key();
    return 0;
  }
  static void Completed(void* cls, MHD_Connection* /*connection*/, void** req_cls,
                        MHD_RequestTerminationCode toe) {
    auto* slot = static_cast<Slot*>(*req_cls);
    *req_cls = nullptr;
    if (slot == nullptr) return;
    static_cast<HttpServer*>(cls)->Completed(slot, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
  }
};

namespace {

MHD_Result CollectHeader(void* cls, MHD_ValueKind /*kind*/, const char* key, const char* value) {
  auto* headers = static_cast<HttpHeaders*>(cls);
  headers->emplace_back(absl::AsciiStrToLower(key), value != nullptr ? value : "");
  return MHD_YES;
}

std::string Peer(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return "";
  char text[INET6_ADDRSTRLEN] = {};
  const sockaddr* address = info->client_addr;
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return absl::StrCat("ipv4:", text, ":", ntohs(in->sin_port));
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    return absl::StrCat("ipv6:[", text, "]:", ntohs(in6->sin6_port));
  }
  return "";
}

std::string PathOf(const char* url) {
  std::string path = url != nullptr ? url : "";
  const size_t query = path.find('?');
  if (query != std::string::npos) path.resize(query);
  return path;
}

}  // namespace

absl::StatusOr<ListenAddress> ParseListenAddress(absl::string_view address) {
  ListenAddress out;
  absl::string_view host;
  absl::string_view port = address;
  if (const size_t colon = address.rfind(':'); colon != absl::string_view::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (!absl::SimpleAtoi(port, &out.port) || out.port < 0 || out.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-address \"", absl::CHexEscape(address), "\": the port must be 0 to 65535"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    out.ipv6 = true;
  }
  if (host.empty() || host == "localhost") host = out.ipv6 ? "::1" : "127.0.0.1";
  out.host = std::string(host);
  unsigned char probe[sizeof(in6_addr)];
  if (inet_pton(out.ipv6 ? AF_INET6 : AF_INET, out.host.c_str(), probe) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-address \"", absl::CHexEscape(address),
                     "\": the host must be an IP address (IPv6 in brackets) or localhost"));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(Options options) {
  auto listen = ParseListenAddress(options.address);
  if (!listen.ok()) return listen.status();
  auto server = std::unique_ptr<HttpServer>(new HttpServer(std::move(options)));
  sockaddr_storage storage = {};
  if (listen->ipv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(listen->port));
    inet_pton(AF_INET6, listen->host.c_str(), &in6->sin6_addr);
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(listen->port));
    inet_pton(AF_INET, listen->host.c_str(), &in->sin_addr);
  }
  const Options& o = server->options_;
  const bool tls = o.tls != nullptr;
  const unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         (listen->ipv6 ? MHD_USE_IPv6 : 0) | (tls ? MHD_USE_TLS : 0);
  // The certificate option comes last: without TLS it is the end of the list (MHD refuses it).
  server->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &Callbacks::Request, server.get(), MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<sockaddr*>(&storage), MHD_OPTION_NOTIFY_COMPLETED, &Callbacks::Completed,
      server.get(), MHD_OPTION_NOTIFY_CONNECTION, &Callbacks::Connection, server.get(),
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(std::max(1, o.threads)),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(absl::ToInt64Seconds(o.idle_timeout)),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(std::max(1, o.max_connections)),
      tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, &Callbacks::Certificate,
      MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for HTTP", tls ? "S" : "", " on ", o.address));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : listen->port;
  server->watchdog_ = std::thread([raw = server.get()] { raw->WatchPeers(); });
  return server;
}

HttpServer::~HttpServer() {
  if (daemon_ == nullptr) return;
  std::vector<std::shared_ptr<HttpExchange>> open;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (Slot* slot : slots_) open.push_back(slot->exchange);
  }
  watchdog_.join();
  // A suspended connection must be resumed before the daemon stops (libmicrohttpd's rule):
  // each resumed one ends at once (a 503, or its stream cut), which its event thread does
  // within milliseconds. Connections stuck writing to a client that reads nothing are not
  // waited for; MHD_stop_daemon closes them.
  std::vector<std::shared_ptr<HttpExchange>> resumed;
  for (const auto& exchange : open) {
    if (exchange->Abort()) resumed.push_back(exchange);
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  for (const auto& exchange : resumed) {
    while (!exchange->Closed() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(1));
  }
  MHD_stop_daemon(daemon_);
}

void HttpServer::WatchPeers() {
  std::vector<std::shared_ptr<HttpExchange>> open;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), kPeerCheckInterval)) return;
      open.reserve(slots_.size());
      for (Slot* slot : slots_) open.push_back(slot->exchange);
    }
    // Outside mu_: a `closed` callback cancels a turn, which takes its own locks.
    for (const auto& exchange : open) exchange->CheckPeer();
    open.clear();
  }
}

bool HttpServer::Handle(MHD_Connection* connection, Slot*& slot, const char* url,
                        const char* method, const char* upload_data, size_t* upload_data_size) {
  if (slot == nullptr) {  // the headers are in; the body (if any) comes next
    slot = new Slot;
    slot->exchange = std::make_shared<HttpExchange>(connection);
    const char* length =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t bytes = 0;
    if (length != nullptr && absl::SimpleAtoi(length, &bytes) && bytes > options_.max_body_bytes) {
      slot->too_large = true;
    }
    absl::MutexLock lock(&mu_);
    slots_.insert(slot);
    return true;
  }
  if (*upload_data_size > 0) {
    if (!slot->too_large && slot->body.size() + *upload_data_size > options_.max_body_bytes) {
      slot->too_large = true;
      slot->body.clear();
    }
    if (!slot->too_large) slot->body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return true;
  }
  if (!slot->dispatched) {
    slot->dispatched = true;
    Dispatch(connection, *slot, url, method);
  }
  int status = 0;
  MHD_Response* response = slot->exchange->TakeResponse(&status);
  if (response == nullptr) return true;  // suspended until the handler answers
  const MHD_Result queued = MHD_queue_response(connection, static_cast<unsigned>(status), response);
  MHD_destroy_response(response);
  return queued == MHD_YES;
}

void HttpServer::Dispatch(MHD_Connection* connection, Slot& slot, const char* url,
                          const char* method) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      slot.exchange->Respond(MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                             "the server is shutting down\n");
      return;
    }
  }
  HttpRequest request;
  request.method = method != nullptr ? method : "";
  request.path = PathOf(url);
  request.body = std::move(slot.body);
  request.body_too_large = slot.too_large;
  MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectHeader, &request.headers);
  request.peer = Peer(connection);
  options_.handler(std::move(request), slot.exchange);
}

void HttpServer::Completed(Slot* slot, bool completed) {
  slot->exchange->Close(completed);
  {
    absl::MutexLock lock(&mu_);
    slots_.erase(slot);
  }
  delete slot;
}

}  // namespace rwkv::server::http
