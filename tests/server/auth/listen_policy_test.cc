// Which --listen addresses are loopback, and the one-line refusal to serve another one without
// authentication.
#include "server/auth/listen_policy.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace rwkv::server::auth {
namespace {

TEST(ListenPolicyTest, LoopbackAddresses) {
  for (const char* address :
       {"127.0.0.1:50051", "127.0.0.1:0", "127.1.2.3:1", "[::1]:50051", "localhost:50051",
        "LOCALHOST:1", "ipv4:127.0.0.1:5", "ipv6:[::1]:5", "unix:/run/rwkv.sock", "::1"}) {
    EXPECT_TRUE(IsLoopbackListen(address)) << address;
  }
  for (const char* address :
       {"0.0.0.0:50051", "[::]:50051", ":50051", "10.0.0.5:50051", "192.168.1.2:1",
        "[2001:db8::1]:50051", "rwkv.example:50051", "128.0.0.1:1", "", "::"}) {
    EXPECT_FALSE(IsLoopbackListen(address)) << address;
  }
}

TEST(ListenPolicyTest, RefusesOnlyAnExposedUnauthenticatedServer) {
  EXPECT_EQ(ExposureRefusal("127.0.0.1:50051", false, false), "");
  EXPECT_EQ(ExposureRefusal("0.0.0.0:50051", true, false), "");
  EXPECT_EQ(ExposureRefusal("0.0.0.0:50051", false, true), "");
  const std::string refusal = ExposureRefusal("0.0.0.0:50051", false, false);
  EXPECT_TRUE(absl::StrContains(refusal, "refusing to serve 0.0.0.0:50051 without authentication"));
  EXPECT_TRUE(absl::StrContains(refusal, "--allow-unauthenticated"));
  EXPECT_FALSE(absl::StrContains(refusal, "\n"));
}

}  // namespace
}  // namespace rwkv::server::auth
