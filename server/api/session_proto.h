// Conversions between the sessions layer's SessionRecord and the gRPC API's rwkv.v1.Session.
#ifndef RWKV_SERVER_API_SESSION_PROTO_H_
#define RWKV_SERVER_API_SESSION_PROTO_H_

#include <map>
#include <string>

#include "rwkv/v1/rwkv.pb.h"
#include "server/sessions/session_record.h"

namespace rwkv::server {

rwkv::v1::Session ToProto(const SessionRecord& record);

std::map<std::string, std::string> MetadataFromProto(
    const google::protobuf::Map<std::string, std::string>& metadata);

}  // namespace rwkv::server

#endif  // RWKV_SERVER_API_SESSION_PROTO_H_
