#include "tests/client/fake_rwkv_server.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace rwkv::client::testing {
namespace {

using rwkv::v1::GenerateResponse;

int64_t PromptTokens(const rwkv::v1::GenerateRequest& request) {
  return request.has_tokens() ? request.tokens().ids_size()
                              : static_cast<int64_t>(request.text().size());
}

}  // namespace

void FakeRwkvService::QueueTurn(FakeTurn turn) {
  absl::MutexLock lock(&mu_);
  turns_.push_back(std::move(turn));
}

void FakeRwkvService::SetDefaultTurn(FakeTurn turn) {
  absl::MutexLock lock(&mu_);
  default_turn_ = std::move(turn);
}

std::vector<rwkv::v1::GenerateRequest> FakeRwkvService::generate_requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

bool FakeRwkvService::HasSession(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  return sessions_.contains(id);
}

std::vector<RecordedCall> FakeRwkvService::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

void FakeRwkvService::Record(const grpc::ServerContext& context, const std::string& method) {
  RecordedCall call{method, {}, {}};
  const auto range = context.client_metadata().equal_range("x-session-id");
  for (auto it = range.first; it != range.second; ++it) {
    call.session_ids.emplace_back(it->second.data(), it->second.size());
  }
  const auto auth = context.client_metadata().equal_range("authorization");
  for (auto it = auth.first; it != auth.second; ++it) {
    call.authorizations.emplace_back(it->second.data(), it->second.size());
  }
  absl::MutexLock lock(&mu_);
  calls_.push_back(std::move(call));
}

FakeTurn FakeRwkvService::NextTurn() {
  if (turns_.empty()) return default_turn_;
  FakeTurn turn = std::move(turns_.front());
  turns_.pop_front();
  return turn;
}

grpc::Status FakeRwkvService::CommitTurn(const rwkv::v1::GenerateRequest& request, int64_t tokens,
                                         rwkv::v1::Session* session) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(request.session_id());
  if (it == sessions_.end()) {
    if (!request.create_session()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no session");
    it = sessions_.emplace(request.session_id(), rwkv::v1::Session()).first;
    it->second.set_id(request.session_id());
  }
  it->second.set_version(it->second.version() + 1);
  it->second.set_token_count(it->second.token_count() + PromptTokens(request) + tokens);
  *session = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::Generate(grpc::ServerContext* context,
                                       const rwkv::v1::GenerateRequest* request,
                                       grpc::ServerWriter<GenerateResponse>* writer) {
  Record(*context, "Generate");
  FakeTurn turn;
  {
    absl::MutexLock lock(&mu_);
    requests_.push_back(*request);
    turn = NextTurn();
  }
  int64_t tokens = 0;
  for (const auto& [text, ids] : turn.deltas) {
    GenerateResponse response;
    response.mutable_delta()->set_text(text);
    response.mutable_delta()->mutable_token_ids()->Add(ids.begin(), ids.end());
    writer->Write(response);
    tokens += static_cast<int64_t>(ids.size());
  }
  if (!turn.status.ok() || !turn.send_done) return turn.status;
  GenerateResponse response;
  GenerateResponse::Done& done = *response.mutable_done();
  done.set_finish_reason(turn.finish_reason);
  done.set_matched_stop(turn.matched_stop);
  done.mutable_usage()->set_prompt_tokens(static_cast<int32_t>(PromptTokens(*request)));
  done.mutable_usage()->set_generated_tokens(static_cast<int32_t>(tokens));
  done.set_seed(request->sampling().has_seed() ? request->sampling().seed() : 7);
  if (!request->session_id().empty()) {
    grpc::Status status = CommitTurn(*request, tokens, done.mutable_session());
    if (!status.ok()) return status;
    done.mutable_usage()->set_session_tokens(done.session().token_count());
  }
  writer->Write(response);
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::CreateSession(grpc::ServerContext* context,
                                            const rwkv::v1::CreateSessionRequest* request,
                                            rwkv::v1::Session* response) {
  Record(*context, "CreateSession");
  absl::MutexLock lock(&mu_);
  std::string id = request->session_id();
  if (id.empty()) id = absl::StrCat("s", next_id_++);
  if (sessions_.contains(id)) return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "taken");
  rwkv::v1::Session& session = sessions_[id];
  session.set_id(id);
  session.set_created_at(1700000000);
  session.set_updated_at(1700000000);
  session.mutable_metadata()->insert(request->metadata().begin(), request->metadata().end());
  *response = session;
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::GetSession(grpc::ServerContext* context,
                                         const rwkv::v1::GetSessionRequest* request,
                                         rwkv::v1::Session* response) {
  Record(*context, "GetSession");
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(request->session_id());
  if (it == sessions_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no session");
  *response = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::ListSessions(grpc::ServerContext* context,
                                           const rwkv::v1::ListSessionsRequest* request,
                                           rwkv::v1::ListSessionsResponse* response) {
  Record(*context, "ListSessions");
  absl::MutexLock lock(&mu_);
  const int page_size = request->page_size() == 0 ? 100 : request->page_size();
  // The page token is the last ID of the previous page.
  auto it = request->page_token().empty() ? sessions_.begin()
                                          : sessions_.upper_bound(request->page_token());
  for (; it != sessions_.end() && response->sessions_size() < page_size; ++it) {
    *response->add_sessions() = it->second;
  }
  if (it != sessions_.end()) response->set_next_page_token(std::prev(it)->first);
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::DeleteSession(grpc::ServerContext* context,
                                            const rwkv::v1::DeleteSessionRequest* request,
                                            rwkv::v1::DeleteSessionResponse* response) {
  Record(*context, "DeleteSession");
  absl::MutexLock lock(&mu_);
  if (sessions_.erase(request->session_id()) == 0) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no session");
  }
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::ForkSession(grpc::ServerContext* context,
                                          const rwkv::v1::ForkSessionRequest* request,
                                          rwkv::v1::Session* response) {
  Record(*context, "ForkSession");
  absl::MutexLock lock(&mu_);
  auto source = sessions_.find(request->source_session_id());
  if (source == sessions_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no source");
  std::string id = request->new_session_id();
  if (id.empty()) id = absl::StrCat("s", next_id_++);
  if (sessions_.contains(id)) return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "taken");
  rwkv::v1::Session copy = source->second;
  copy.set_id(id);
  *response = sessions_[id] = copy;
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::Tokenize(grpc::ServerContext* context,
                                       const rwkv::v1::TokenizeRequest* request,
                                       rwkv::v1::TokenizeResponse* response) {
  Record(*context, "Tokenize");
  for (unsigned char c : request->text()) response->add_token_ids(c);
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::Detokenize(grpc::ServerContext* context,
                                         const rwkv::v1::DetokenizeRequest* request,
                                         rwkv::v1::DetokenizeResponse* response) {
  Record(*context, "Detokenize");
  for (int32_t id : request->token_ids()) {
    if (id < 0 || id > 255) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "token_ids: out of range");
    }
    response->mutable_text()->push_back(static_cast<char>(id));
  }
  return grpc::Status::OK;
}

grpc::Status FakeRwkvService::GetModelInfo(grpc::ServerContext* context,
                                           const rwkv::v1::GetModelInfoRequest* request,
                                           rwkv::v1::ModelInfo* response) {
  Record(*context, "GetModelInfo");
  response->set_version("7");
  response->set_vocab_size(256);
  response->set_tokenizer("bytes");
  return grpc::Status::OK;
}

FakeRwkvServer::FakeRwkvServer() {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeRwkvServer::~FakeRwkvServer() {
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
}

std::shared_ptr<grpc::Channel> FakeRwkvServer::NewChannel() const {
  return grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
}

}  // namespace rwkv::client::testing
