// HTTPS certificate reload over real loopback sockets (libcurl as the client, trusting one CA at
// a time): an HttpServer serving certificate A, its files replaced atomically by B, new
// connections then get B; a broken replacement keeps B; A put back is served again; a
// connection opened before a replacement goes on with its own certificate.
#include <curl/curl.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/http/http_server.h"
#include "server/http/tls_certificates.h"
#include "tests/util/http_client.h"
#include "tests/util/scoped_temp_dir.h"
#include "tests/util/test_certs.h"
#include "tests/util/wait_for.h"

namespace rwkv::server::http {
namespace {

using ::rwkv::testing::HttpCall;
using ::rwkv::testing::HttpResult;
using ::rwkv::testing::kWaitLimit;
using ::rwkv::testing::LinkedServerCerts;
using ::rwkv::testing::MakeTwoTestCerts;
using ::rwkv::testing::ScopedTempDir;
using ::rwkv::testing::SwapLink;
using ::rwkv::testing::TestCerts;
using ::rwkv::testing::TwoTestCerts;
using ::rwkv::testing::WaitFor;

class HttpsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TwoTestCerts> certs = MakeTwoTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    a_ = certs->a;
    b_ = certs->b;
    // A directory whose pair does not parse, for a broken rotation.
    const std::string broken = absl::StrCat(dir_.path(), "/broken");
    std::filesystem::create_directory(broken);
    std::filesystem::copy_file(a_.server_cert, absl::StrCat(broken, "/server.crt"));
    std::filesystem::copy_file(b_.server_key, absl::StrCat(broken, "/server.key"));
    const TestCerts linked = LinkedServerCerts(absl::StrCat(dir_.path(), "/a"), current());

    TlsCertificates::Options tls;
    tls.cert_file = linked.server_cert;
    tls.key_file = linked.server_key;
    tls.reload_interval = absl::Milliseconds(50);
    absl::StatusOr<std::unique_ptr<TlsCertificates>> certificates =
        TlsCertificates::Create(std::move(tls));
    ASSERT_TRUE(certificates.ok()) << certificates.status();
    certificates_ = *std::move(certificates);

    HttpServer::Options options;
    options.address = "127.0.0.1:0";
    options.handler = [](HttpRequest, std::shared_ptr<HttpExchange> exchange) {
      exchange->Respond(200, "text/plain", "ok\n");
    };
    options.tls = certificates_;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::string current() const { return absl::StrCat(dir_.path(), "/current"); }

  // A new connection that trusts only `ca` gets its answer.
  bool Trusted(const TestCerts& ca) {
    HttpCall call;
    call.path = "/";
    call.ca_file = ca.ca_cert;
    call.timeout = absl::Seconds(30);
    absl::StatusOr<HttpResult> result = rwkv::testing::HttpRequest(server_->port(), call);
    return result.ok() && result->status == 200 && result->body == "ok\n";
  }

  ScopedTempDir dir_;
  TestCerts a_;
  TestCerts b_;
  std::shared_ptr<TlsCertificates> certificates_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpsReloadTest, NewConnectionsGetTheReplacedCertificate) {
  EXPECT_TRUE(Trusted(a_));
  EXPECT_FALSE(Trusted(b_)) << "a client trusting only CA b accepted CA a's certificate";

  SwapLink(absl::StrCat(dir_.path(), "/b"), current());
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return Trusted(b_); }))
      << "new connections never got the replaced certificate";
  EXPECT_FALSE(Trusted(a_)) << "a new connection still got the old certificate";
  EXPECT_EQ(certificates_->failed_reloads(), 0);

  // A pair whose key is not the certificate's: refused, B stays.
  SwapLink(absl::StrCat(dir_.path(), "/broken"), current());
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] {
    EXPECT_TRUE(Trusted(b_)) << "the broken pair was served";
    return certificates_->failed_reloads() > 0;
  })) << "the broken pair was never read";
  EXPECT_TRUE(Trusted(b_));
  EXPECT_FALSE(Trusted(a_));

  SwapLink(absl::StrCat(dir_.path(), "/a"), current());
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return Trusted(a_); }))
      << "the mended files were never taken";
}

size_t Discard(char*, size_t size, size_t count, void*) { return size * count; }

// A connection made before the replacement goes on with its certificate: a second request on
// the same (kept-alive) connection is answered after new connections have moved to B.
TEST_F(HttpsReloadTest, AnOpenConnectionKeepsItsCertificate) {
  CURL* curl = curl_easy_init();
  ASSERT_NE(curl, nullptr);
  const std::string url = absl::StrCat("https://127.0.0.1:", server_->port(), "/");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, a_.ca_cert.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Discard);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 30'000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  long connects = 0;
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  EXPECT_EQ(status, 200);

  SwapLink(absl::StrCat(dir_.path(), "/b"), current());
  ASSERT_TRUE(WaitFor(kWaitLimit, [&] { return Trusted(b_); }));
  ASSERT_EQ(curl_easy_perform(curl), CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(connects, 0) << "the second request did not reuse the first connection";
  curl_easy_cleanup(curl);
}

}  // namespace
}  // namespace rwkv::server::http
