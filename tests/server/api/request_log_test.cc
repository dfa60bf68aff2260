// Request log lines in both formats, and request IDs.
#include "server/api/request_log.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "server/api/request_id.h"

namespace rwkv::server {
namespace {

const absl::Time kTime = absl::FromUnixMillis(1'764'234'721'123);

RequestRecord Record() {
  RequestRecord record;
  record.method = "Generate";
  record.request_id = "3f2a9c0d1e4b5a69";
  record.session = "chat-1";
  record.prompt_tokens = 12;
  record.generated_tokens = 64;
  record.duration = absl::Microseconds(412'060);
  return record;
}

// With authentication on, a line names its tenant; a refused call names its peer instead (and
// its reason as the error), never a token.
TEST(RequestLogTest, TenantAndPeer) {
  RequestRecord record = Record();
  record.tenant = "acme";
  EXPECT_EQ(FormatRequestLine(record, LogFormat::kText, kTime),
            "2025-11-27T09:12:01.123Z Generate request_id=3f2a9c0d1e4b5a69 session=chat-1 "
            "tenant=acme prompt=12 generated=64 status=OK ms=412.1");
  EXPECT_EQ(FormatRequestLine(record, LogFormat::kJson, kTime),
            "{\"time\":\"2025-11-27T09:12:01.123Z\",\"method\":\"Generate\","
            "\"request_id\":\"3f2a9c0d1e4b5a69\",\"session\":\"chat-1\",\"tenant\":\"acme\","
            "\"prompt_tokens\":12,\"generated_tokens\":64,\"code\":\"OK\",\"ms\":412.1}");
  record.tenant = "";  // the default tenant (authentication off): nothing added
  EXPECT_EQ(FormatRequestLine(record, LogFormat::kText, kTime),
            FormatRequestLine(Record(), LogFormat::kText, kTime));

  RequestRecord refused;
  refused.method = "GetSession";
  refused.request_id = "00aa";
  refused.peer = "ipv4:127.0.0.1:5555";
  refused.status = absl::UnauthenticatedError("unknown token");
  EXPECT_EQ(FormatRequestLine(refused, LogFormat::kText, kTime),
            "2025-11-27T09:12:01.123Z GetSession request_id=00aa peer=ipv4:127.0.0.1:5555 "
            "status=UNAUTHENTICATED ms=0.0 error=\"unknown token\"");
  EXPECT_EQ(FormatRequestLine(refused, LogFormat::kJson, kTime),
            "{\"time\":\"2025-11-27T09:12:01.123Z\",\"method\":\"GetSession\","
            "\"request_id\":\"00aa\",\"peer\":\"ipv4:127.0.0.1:5555\",\"code\":"
            "\"UNAUTHENTICATED\",\"ms\":0.0,\"error\":\"unknown token\"}");
}

TEST(RequestLogTest, TextLine) {
  EXPECT_EQ(FormatRequestLine(Record(), LogFormat::kText, kTime),
            "2025-11-27T09:12:01.123Z Generate request_id=3f2a9c0d1e4b5a69 session=chat-1 "
            "prompt=12 generated=64 status=OK ms=412.1");
  RequestRecord failed = Record();
  failed.session = "bad\nid";
  failed.prompt_tokens = failed.generated_tokens = -1;
  failed.status = absl::NotFoundError("session \"x\" not found");
  EXPECT_EQ(FormatRequestLine(failed, LogFormat::kText, kTime),
            "2025-11-27T09:12:01.123Z Generate request_id=3f2a9c0d1e4b5a69 session=bad\\nid "
            "status=NOT_FOUND ms=412.1 error=\"session \\\"x\\\" not found\"");
}

TEST(RequestLogTest, JsonLineHasTheSameFieldsEscaped) {
  EXPECT_EQ(FormatRequestLine(Record(), LogFormat::kJson, kTime),
            "{\"time\":\"2025-11-27T09:12:01.123Z\",\"method\":\"Generate\","
            "\"request_id\":\"3f2a9c0d1e4b5a69\",\"session\":\"chat-1\",\"prompt_tokens\":12,"
            "\"generated_tokens\":64,\"code\":\"OK\",\"ms\":412.1}");
  RequestRecord failed = Record();
  failed.session = "";
  failed.prompt_tokens = failed.generated_tokens = -1;
  failed.status = absl::InvalidArgumentError("bad \"id\"\n\x01\\");
  EXPECT_EQ(FormatRequestLine(failed, LogFormat::kJson, kTime),
            "{\"time\":\"2025-11-27T09:12:01.123Z\",\"method\":\"Generate\","
            "\"request_id\":\"3f2a9c0d1e4b5a69\",\"code\":\"INVALID_ARGUMENT\",\"ms\":412.1,"
            "\"error\":\"bad \\\"id\\\"\\n\\u0001\\\\\"}");
}

TEST(RequestLogTest, ValidSessionIdsAreLoggedWhole) {
  RequestRecord record = Record();
  const std::string longest(128, 'a');  // the longest valid ID
  record.session = longest;
  EXPECT_NE(FormatRequestLine(record, LogFormat::kText, kTime).find(" session=" + longest + " "),
            std::string::npos);
  EXPECT_NE(
      FormatRequestLine(record, LogFormat::kJson, kTime).find("\"session\":\"" + longest + "\","),
      std::string::npos);
}

TEST(RequestLogTest, InvalidSessionIdsAreCutToTheirFirst64Bytes) {
  RequestRecord record = Record();
  std::string huge(4 << 20, 'x');  // 4 MiB, as a client may send
  huge[0] = '\n';
  record.session = huge;
  const std::string text = FormatRequestLine(record, LogFormat::kText, kTime);
  EXPECT_LT(text.size(), 300u) << text.substr(0, 300);
  EXPECT_NE(text.find(" session=\\n" + std::string(63, 'x') + "...(4194304 bytes) prompt=12"),
            std::string::npos)
      << text;
  const std::string json = FormatRequestLine(record, LogFormat::kJson, kTime);
  EXPECT_LT(json.size(), 300u) << json.substr(0, 300);
  EXPECT_NE(json.find("\"session\":\"\\n" + std::string(63, 'x') + "...(4194304 bytes)\""),
            std::string::npos)
      << json;

  // Just over a valid ID's length, and invalid for its characters: cut too.
  const std::string just_over(129, 'a');
  record.session = just_over;
  EXPECT_NE(FormatRequestLine(record, LogFormat::kText, kTime)
                .find(" session=" + std::string(64, 'a') + "...(129 bytes) "),
            std::string::npos);
  const std::string spaces(70, ' ');
  record.session = spaces;
  EXPECT_NE(FormatRequestLine(record, LogFormat::kText, kTime)
                .find(" session=" + std::string(64, ' ') + "...(70 bytes) "),
            std::string::npos);
}

TEST(RequestLogTest, CutSessionIdsEndOnACharacterBoundary) {
  RequestRecord record = Record();
  // 63 ASCII bytes, then 2-byte characters: the 64th byte is the first half of "é".
  const std::string accented = std::string(63, 'a') + "\xc3\xa9\xc3\xa9";
  record.session = accented;
  const std::string json = FormatRequestLine(record, LogFormat::kJson, kTime);
  EXPECT_NE(json.find("\"session\":\"" + std::string(63, 'a') + "...(67 bytes)\""),
            std::string::npos)
      << json;
}

TEST(RequestLogTest, EventLines) {
  EXPECT_EQ(FormatEventLine("serving x", LogFormat::kText, kTime),
            "2025-11-27T09:12:01.123Z serving x");
  EXPECT_EQ(FormatEventLine("serving \"x\"", LogFormat::kJson, kTime),
            "{\"time\":\"2025-11-27T09:12:01.123Z\",\"event\":\"serving \\\"x\\\"\"}");
}

TEST(RequestLogTest, ParseLogFormat) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("JSON").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestLogTest, WritesOneLinePerCall) {
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  {
    RequestLog log(LogFormat::kJson, out);
    log.Log(Record());
    log.Event("drained");
  }
  std::rewind(out);
  char buffer[1024];
  const size_t n = std::fread(buffer, 1, sizeof(buffer), out);
  std::fclose(out);
  const std::string written(buffer, n);
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 2) << written;
  EXPECT_EQ(written.find("{\"time\":"), 0u) << written;
  EXPECT_NE(written.find("\n{\"time\":"), std::string::npos) << written;
}

TEST(RequestIdTest, NewIdsAreSixteenHexCharactersAndDistinct) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewRequestId();
    ASSERT_EQ(id.size(), 16u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    EXPECT_TRUE(IsValidRequestId(id));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(RequestIdTest, ClientIdsMustBeShortAndPlain) {
  EXPECT_TRUE(IsValidRequestId("trace-1.2:3_A"));
  EXPECT_TRUE(IsValidRequestId(std::string(64, 'x')));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(65, 'x')));
  EXPECT_FALSE(IsValidRequestId("a b"));
  EXPECT_FALSE(IsValidRequestId("a\nb"));
  EXPECT_FALSE(IsValidRequestId("{\"x\":1}"));
}

}  // namespace
}  // namespace rwkv::server
