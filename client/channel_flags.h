// The TLS flags every client program shares (rwkv-cli, rwkv-loadgen, rwkv-resume-bench):
// --tls-ca-file, --tls-cert-file, --tls-key-file, --tls-server-name. Linking this file defines
// them; ChannelOptionsFromFlags reads them after ParseCommandLine.
#ifndef RWKV_CLIENT_CHANNEL_FLAGS_H_
#define RWKV_CLIENT_CHANNEL_FLAGS_H_

#include "client/channel_options.h"

namespace rwkv::client {

ChannelOptions ChannelOptionsFromFlags();

}  // namespace rwkv::client

#endif  // RWKV_CLIENT_CHANNEL_FLAGS_H_
