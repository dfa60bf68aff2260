#include "server/api/session_proto.h"

namespace rwkv::server {

rwkv::v1::Session ToProto(const SessionRecord& record) {
  rwkv::v1::Session session;
  session.set_id(record.id);
  session.set_version(record.version);
  session.set_token_count(record.token_count);
  session.set_created_at(record.created_at);
  session.set_updated_at(record.updated_at);
  session.set_expires_at(record.expires_at);
  session.mutable_metadata()->insert(record.metadata.begin(), record.metadata.end());
  session.set_model_fingerprint(record.model_fingerprint);
  session.set_state_bytes(record.state_bytes);
  return session;
}

std::map<std::string, std::string> MetadataFromProto(
    const google::protobuf::Map<std::string, std::string>& metadata) {
  return std::map<std::string, std::string>(metadata.begin(), metadata.end());
}

}  // namespace rwkv::server
