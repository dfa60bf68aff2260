// SessionManager and tenants: each tenant sees, resumes, forks, lists and deletes only its own
// sessions; another tenant's session is NOT_FOUND with the message of a missing one; two tenants
// may use one ID; the default tenant's listing stops before the other tenants' keys.
#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "server/sessions/session_scope.h"
#include "server/sessions/tenant.h"
#include "tests/server/sessions/session_manager_fixture.h"

namespace rwkv::server {
namespace session_test {
namespace {

// Instantiated over both backends in session_manager_test.cc.

// One turn of `tenant`'s session `id` (created when missing) leaving `state`.
absl::StatusOr<SessionRecord> TenantTurn(SessionManager& sessions, absl::string_view tenant,
                                         absl::string_view id, float state) {
  absl::StatusOr<SessionManager::Turn> turn =
      sessions.BeginTurn(tenant, id, {.create_if_missing = true});
  if (!turn.ok()) return turn.status();
  return sessions.Commit(*std::move(turn), StateOf(state), 1);
}

std::vector<float> TenantState(SessionManager& sessions, absl::string_view tenant,
                               absl::string_view id) {
  absl::StatusOr<SessionManager::Turn> turn = sessions.BeginTurn(tenant, id, {});
  EXPECT_TRUE(turn.ok()) << turn.status();
  return turn.ok() ? turn->TakeState() : std::vector<float>();
}

struct Listing {
  std::vector<std::string> ids;
  int calls = 0;
  int64_t most_read = 0;  // the most store entries one call read
};

// Pages through `tenant`'s sessions, counting what each call reads from the store.
Listing ListAll(SessionManager& sessions, FaultInjectingStore& faults, absl::string_view tenant,
                int page_size) {
  Listing listing;
  std::string token;
  do {
    ++listing.calls;
    const int64_t read = faults.scanned_entries();
    absl::StatusOr<SessionManager::Page> page = sessions.ListSessions(tenant, page_size, token);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    listing.most_read = std::max(listing.most_read, faults.scanned_entries() - read);
    for (const SessionRecord& session : page->sessions) {
      EXPECT_EQ(session.tenant, tenant) << session.id;
      listing.ids.push_back(session.id);
    }
    token = page->next_page_token;
    EXPECT_FALSE(absl::StrContains(token, "~")) << token;
  } while (!token.empty() && listing.calls < 1000);
  return listing;
}

std::vector<std::string> Ids(absl::string_view prefix, int count) {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) ids.push_back(absl::StrFormat("%s%03d", prefix, i));
  return ids;
}

TEST(TenantTest, Names) {
  for (const std::string& tenant :
       {std::string(), std::string("acme"), std::string(64, 't'), std::string("A.b_c-9")}) {
    EXPECT_TRUE(ValidateTenant(tenant).ok()) << tenant;
  }
  for (const std::string& tenant : {std::string(65, 't'), std::string("a/b"), std::string("~a"),
                                    std::string("a b"), std::string("a:b"), std::string("\xff")}) {
    EXPECT_EQ(ValidateTenant(tenant).code(), absl::StatusCode::kInvalidArgument) << tenant;
  }
  EXPECT_EQ(kDefaultTenant, "");
}

TEST(SessionScopeTest, KeysOfTheDefaultTenantAreItsIdsAndOthersAreScoped) {
  EXPECT_EQ(SessionKey("", "chat"), "chat");
  EXPECT_EQ(SessionKey("acme", "chat"), "~acme/chat");
  const SessionScope plain = SessionScope::Of("").value();
  const SessionScope acme = SessionScope::Of("acme").value();
  EXPECT_EQ(plain.Key("chat"), "chat");
  EXPECT_EQ(acme.Key("chat"), "~acme/chat");
  EXPECT_TRUE(plain.Holds("chat"));
  EXPECT_FALSE(plain.Holds("~acme/chat"));
  EXPECT_TRUE(acme.Holds("~acme/chat"));
  EXPECT_FALSE(acme.Holds("chat"));
  EXPECT_FALSE(acme.Holds("~acme.x/chat"));
  EXPECT_FALSE(SessionScope::Of("acme.x").value().Holds("~acme/chat"));
  EXPECT_EQ(acme.IdOf("~acme/chat"), "chat");
  // Scoped keys sort after every ID: the default tenant's keys all come first.
  for (char c : std::string("AZaz09._:-")) EXPECT_LT(c, '~');
  const absl::Status scrubbed =
      acme.Scrub(absl::AbortedError("lease \"session/~acme/chat\" of key \"m/~acme/chat\": held"));
  EXPECT_EQ(scrubbed, absl::AbortedError("lease \"session/chat\" of key \"m/chat\": held"));
  EXPECT_EQ(SessionScope::Of("a/b").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(SessionManagerTest, TwoTenantsWithOneIdDoNotMeet) {
  SessionManager& sessions = Manager();
  ASSERT_TRUE(sessions.CreateSession("chat", {{"owner", "default"}}).ok());
  absl::StatusOr<SessionRecord> acme = sessions.CreateSession("acme", "chat", {{"owner", "acme"}});
  ASSERT_TRUE(acme.ok()) << acme.status();
  EXPECT_EQ(acme->id, "chat");
  EXPECT_EQ(acme->tenant, "acme");
  // The same version at the same instant (the clock stands still): only the tenant tells the
  // two cached states apart.
  ASSERT_TRUE(TenantTurn(sessions, "", "chat", 1.0f).ok());
  ASSERT_TRUE(TenantTurn(sessions, "acme", "chat", 2.0f).ok());
  ASSERT_TRUE(TenantTurn(sessions, "globex", "chat", 3.0f).ok());
  EXPECT_EQ(TenantState(sessions, "", "chat"), StateOf(1.0f));
  EXPECT_EQ(TenantState(sessions, "acme", "chat"), StateOf(2.0f));
  EXPECT_EQ(TenantState(sessions, "globex", "chat"), StateOf(3.0f));
  EXPECT_EQ(sessions.live_sessions(), 3);

  absl::StatusOr<SessionRecord> got = sessions.GetSession("acme", "chat");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->tenant, "acme");
  EXPECT_EQ(got->id, "chat");
  EXPECT_EQ(got->metadata.at("owner"), "acme");
  EXPECT_EQ(sessions.GetSession("chat")->metadata.at("owner"), "default");
  EXPECT_EQ(sessions.GetSession("chat")->tenant, "");

  ASSERT_TRUE(sessions.DeleteSession("acme", "chat").ok());
  EXPECT_TRUE(absl::IsNotFound(sessions.GetSession("acme", "chat").status()));
  EXPECT_EQ(TenantState(sessions, "", "chat"), StateOf(1.0f));
  EXPECT_EQ(TenantState(sessions, "globex", "chat"), StateOf(3.0f));
  EXPECT_EQ(sessions.live_sessions(), 2);
  // Counted again from the store: every tenant's sessions.
  manager_.reset();
  EXPECT_EQ(Manager().live_sessions(), 2);
}

// Every way to reach acme's session from another tenant answers as if it did not exist: the
// same code and message as once it is really gone.
TEST_P(SessionManagerTest, AnotherTenantsSessionIsNotFoundLikeAMissingOne) {
  SessionManager& sessions = Manager();
  ASSERT_TRUE(TenantTurn(sessions, "acme", "secret", 7.0f).ok());
  auto attempts = [&sessions](absl::string_view tenant) {
    std::vector<absl::Status> statuses;
    statuses.push_back(sessions.GetSession(tenant, "secret").status());
    statuses.push_back(sessions.ForkSession(tenant, "secret", "copy", {}).status());
    statuses.push_back(sessions.BeginTurn(tenant, "secret", {}).status());
    statuses.push_back(sessions.DeleteSession(tenant, "secret"));
    return statuses;
  };
  const std::vector<absl::Status> while_there = attempts("globex");
  const std::vector<absl::Status> plain_while_there = attempts(kDefaultTenant);
  for (const absl::Status& status : while_there) {
    EXPECT_EQ(status, absl::NotFoundError("session secret not found"));
  }
  EXPECT_EQ(plain_while_there, while_there);
  EXPECT_EQ(TenantState(sessions, "acme", "secret"), StateOf(7.0f));  // untouched
  ASSERT_TRUE(sessions.DeleteSession("acme", "secret").ok());
  EXPECT_EQ(attempts("globex"), while_there);

  // Nor does acme's session stop another tenant from using its ID.
  ASSERT_TRUE(TenantTurn(sessions, "acme", "secret", 7.0f).ok());
  absl::StatusOr<SessionRecord> created = sessions.CreateSession("globex", "secret", {});
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_TRUE(TenantTurn(sessions, "initech", "src", 1.0f).ok());
  absl::StatusOr<SessionRecord> fork = sessions.ForkSession("initech", "src", "secret", {});
  ASSERT_TRUE(fork.ok()) << fork.status();
  absl::StatusOr<SessionRecord> made = TenantTurn(sessions, "umbrella", "secret", 9.0f);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->version, 1);  // its own, new session
  EXPECT_EQ(TenantState(sessions, "acme", "secret"), StateOf(7.0f));
  EXPECT_EQ(sessions.GetSession("acme", "secret")->version, 1);
}

TEST_P(SessionManagerTest, ForkStaysInTheCallersTenant) {
  SessionManager& sessions = Manager();
  ASSERT_TRUE(TenantTurn(sessions, "acme", "chat", 2.0f).ok());
  absl::StatusOr<SessionRecord> fork = sessions.ForkSession("acme", "chat", "copy", {});
  ASSERT_TRUE(fork.ok()) << fork.status();
  EXPECT_EQ(fork->tenant, "acme");
  EXPECT_EQ(fork->id, "copy");
  EXPECT_EQ(TenantState(sessions, "acme", "copy"), StateOf(2.0f));
  EXPECT_TRUE(absl::IsNotFound(sessions.GetSession("copy").status()));
  EXPECT_TRUE(absl::IsNotFound(sessions.GetSession("globex", "copy").status()));
  // A server-made ID for the copy, in acme's tenant too.
  absl::StatusOr<SessionRecord> unnamed = sessions.ForkSession("acme", "chat", "", {});
  ASSERT_TRUE(unnamed.ok()) << unnamed.status();
  EXPECT_EQ(unnamed->tenant, "acme");
  EXPECT_TRUE(sessions.GetSession("acme", unnamed->id).ok());
  EXPECT_EQ(sessions.live_sessions(), 3);
}

// What a tenant is told names its own sessions by their IDs: no key, no tenant prefix.
TEST_P(SessionManagerTest, MessagesNameTheClientsIds) {
  SessionManager& sessions = Manager();
  ASSERT_TRUE(sessions.CreateSession("acme", "chat", {}).ok());
  absl::StatusOr<SessionRecord> again = sessions.CreateSession("acme", "chat", {});
  EXPECT_EQ(again.status(), absl::AlreadyExistsError("session chat already exists"));
  absl::StatusOr<SessionManager::Turn> running = sessions.BeginTurn("acme", "chat", {});
  ASSERT_TRUE(running.ok()) << running.status();
  const std::vector<absl::Status> refused = {
      sessions.BeginTurn("acme", "chat", {}).status(), sessions.DeleteSession("acme", "chat"),
      sessions.ForkSession("acme", "chat", "copy", {}).status()};
  for (const absl::Status& status : refused) {
    EXPECT_TRUE(absl::IsAborted(status)) << status;
    EXPECT_TRUE(absl::StrContains(status.message(), "session chat ")) << status;
    EXPECT_FALSE(absl::StrContains(status.message(), "~")) << status;
  }
  // Another tenant's session of that ID is not held up by acme's turn.
  EXPECT_TRUE(TenantTurn(sessions, "globex", "chat", 1.0f).ok());
  EXPECT_TRUE(TenantTurn(sessions, "", "chat", 1.0f).ok());
  EXPECT_TRUE(sessions.Commit(*std::move(running), StateOf(2.0f), 1).ok());
  EXPECT_EQ(sessions.BeginTurn("acme", "chat", {.expected_version = 7}).status(),
            absl::AbortedError("session chat is at version 1, the turn expected version 7"));
  // A bad tenant name (never from a client: the server's configuration) is refused clearly.
  for (const std::string& tenant : {std::string("a/b"), std::string(65, 'x')}) {
    EXPECT_EQ(sessions.GetSession(tenant, "chat").status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sessions.ListSessions(tenant, 10, "").status().code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sessions.CreateSession(tenant, "x", {}).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST_P(SessionManagerTest, ACorruptRecordOfATenantIsDataLossNamingItsId) {
  ASSERT_TRUE(Manager().CreateSession("acme", "chat", {}).ok());
  RawPut("m/~acme/chat", "\xff garbage");
  const absl::Status status = Manager().GetSession("acme", "chat").status();
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), "session record of chat is corrupt")) << status;
  // A record filed under another tenant's key is damage too, never that tenant's session.
  RawPut("m/~globex/chat", EncodeSessionRecord({.id = "chat", .tenant = "acme"}));
  EXPECT_TRUE(absl::IsDataLoss(Manager().GetSession("globex", "chat").status()));
  RawPut("m/chat", EncodeSessionRecord({.id = "chat", .tenant = "acme"}));
  EXPECT_TRUE(absl::IsDataLoss(Manager().GetSession("chat").status()));
  // Deleting is still the way out.
  EXPECT_TRUE(Manager().DeleteSession("acme", "chat").ok());
}

TEST_P(SessionManagerTest, ListSessionsListsOnlyTheTenantsOwnAndPages) {
  SessionManager& sessions = Manager();
  // "acme" and "acme.x": one tenant's name is a prefix of the other's.
  const std::vector<std::string> plain = Ids("p", 12), acme = Ids("a", 23), acme_x = Ids("x", 5);
  for (const std::string& id : plain) ASSERT_TRUE(sessions.CreateSession(id, {}).ok());
  for (const std::string& id : acme) ASSERT_TRUE(sessions.CreateSession("acme", id, {}).ok());
  for (const std::string& id : acme_x) ASSERT_TRUE(sessions.CreateSession("acme.x", id, {}).ok());
  // A session of every tenant under one ID.
  for (absl::string_view tenant : {"", "acme", "acme.x"}) {
    ASSERT_TRUE(sessions.CreateSession(tenant, "shared", {}).ok());
  }
  auto with_shared = [](std::vector<std::string> ids) {
    ids.push_back("shared");
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  for (int page_size : {1, 5, 7, 100}) {
    Listing listing = ListAll(sessions, *faults_, kDefaultTenant, page_size);
    EXPECT_EQ(listing.ids, with_shared(plain)) << page_size;
    EXPECT_LE(listing.most_read, page_size + 1);
    listing = ListAll(sessions, *faults_, "acme", page_size);
    EXPECT_EQ(listing.ids, with_shared(acme)) << page_size;
    EXPECT_LE(listing.most_read, page_size + 1);
    EXPECT_EQ(ListAll(sessions, *faults_, "acme.x", page_size).ids, with_shared(acme_x));
    EXPECT_TRUE(ListAll(sessions, *faults_, "globex", page_size).ids.empty());
  }
  // A page token is a session ID of the caller's, read in the caller's tenant.
  absl::StatusOr<SessionManager::Page> page = sessions.ListSessions("acme", 3, "a010");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->sessions.size(), 3u);
  EXPECT_EQ(page->sessions[0].id, "a011");
  EXPECT_EQ(page->next_page_token, "a013");
  EXPECT_EQ(sessions.ListSessions("acme", 3, "~acme/a010").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sessions.live_sessions(), 12 + 23 + 5 + 3);
}

// The default tenant's sessions are the keys before the first scoped one: its listing ends there
// after a bounded read, however many sessions other tenants have.
TEST_P(SessionManagerTest, TheDefaultTenantsListingStopsBeforeOtherTenantsKeys) {
  SessionManager& sessions = Manager();
  for (const std::string& id : Ids("p", 3)) ASSERT_TRUE(sessions.CreateSession(id, {}).ok());
  for (const std::string& id : Ids("a", 300)) {
    ASSERT_TRUE(sessions.CreateSession("acme", id, {}).ok());
  }
  const int64_t read = faults_->scanned_entries();
  absl::StatusOr<SessionManager::Page> page = sessions.ListSessions(10, "");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_LE(faults_->scanned_entries() - read, 11);
  EXPECT_EQ(page->sessions.size(), 3u);
  EXPECT_EQ(page->next_page_token, "");
  // Paged, the last page ends at the first scoped key too.
  Listing listing = ListAll(sessions, *faults_, kDefaultTenant, 2);
  EXPECT_EQ(listing.ids, Ids("p", 3));
  EXPECT_EQ(listing.calls, 2);
  EXPECT_LE(listing.most_read, 3);
}

TEST_P(SessionManagerTest, ServerMadeIdsCarry128RandomBits) {
  std::set<std::string> ids;
  std::vector<std::set<char>> seen(32);
  for (int i = 0; i < 64; ++i) {
    absl::StatusOr<SessionRecord> record = Manager().CreateSession("acme", "", {});
    ASSERT_TRUE(record.ok()) << record.status();
    EXPECT_EQ(record->tenant, "acme");
    ASSERT_EQ(record->id.size(), 32u) << record->id;  // 32 hex digits: 128 bits
    for (size_t j = 0; j < record->id.size(); ++j) {
      const char c = record->id[j];
      EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << record->id;
      seen[j].insert(c);
    }
    ids.insert(record->id);
  }
  EXPECT_EQ(ids.size(), 64u);
  // Every digit varies: no part of the ID is fixed (a counter, a timestamp's high bits, zeros).
  // A random digit keeps one value over 64 IDs with probability 16^-63.
  for (size_t j = 0; j < seen.size(); ++j) EXPECT_GT(seen[j].size(), 1u) << "digit " << j;
}

TEST_P(SessionManagerTest, SweepAndCountCoverEveryTenant) {
  options_.ttl = absl::Seconds(60);
  SessionManager& sessions = Manager();
  ASSERT_TRUE(sessions.CreateSession("old", {}).ok());
  ASSERT_TRUE(sessions.CreateSession("acme", "old", {}).ok());
  ASSERT_TRUE(sessions.CreateSession("globex", "old", {}).ok());
  clock_.Advance(absl::Seconds(50));
  ASSERT_TRUE(sessions.CreateSession("acme", "new", {}).ok());
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(sessions.SweepExpired().value(), 3);
  EXPECT_EQ(sessions.live_sessions(), 1);
  EXPECT_TRUE(sessions.GetSession("acme", "new").ok());
  EXPECT_TRUE(absl::IsNotFound(sessions.GetSession("globex", "old").status()));
  EXPECT_EQ(store_->Get("m/~globex/old").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(sessions.RecountSessions().ok());
  EXPECT_EQ(sessions.live_sessions(), 1);
}

}  // namespace
}  // namespace session_test
}  // namespace rwkv::server
