#!/usr/bin/env node
// A client of rwkv-serve on another gRPC implementation than the server's (@grpc/grpc-js), which
// loads proto/ at run time: it streams one Generate over TLS and prints the completion.
//
//   node tests/node/generate.js --address 127.0.0.1:50051 --ca ca.crt [--cert c.crt --key c.key]
//       [--server-name localhost] [--token TOKEN] [--max-tokens 16] PROMPT...
//
// --token sends `authorization: Bearer TOKEN` with the call. The completion goes to stdout; a
// last line "done: <finish reason> <generated tokens>" to stderr. Exit status 0 when the stream
// ended with its Done message, 1 on an error ("node-client: CODE: message"), 2 for bad usage.
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function usage(message) {
  process.stderr.write(`node-client: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { maxTokens: 16, words: [] };
  const valued = { '--address': 'address', '--ca': 'ca', '--cert': 'cert', '--key': 'key',
                   '--server-name': 'serverName', '--token': 'token', '--max-tokens': 'maxTokens' };
  for (let i = 0; i < argv.length; ++i) {
    const name = valued[argv[i]];
    if (name === undefined) {
      options.words.push(argv[i]);
      continue;
    }
    if (i + 1 >= argv.length) usage(`${argv[i]} needs a value`);
    options[name] = argv[++i];
  }
  if (!options.address) usage('--address is required');
  if (!options.ca) usage('--ca is required (this client speaks TLS only)');
  if (Boolean(options.cert) !== Boolean(options.key)) usage('--cert and --key go together');
  return options;
}

function loadService() {
  const protoRoot = path.resolve(__dirname, '..', '..', 'proto');
  const definition = protoLoader.loadSync('rwkv/v1/rwkv.proto', {
    includeDirs: [protoRoot], keepCase: true, longs: String, enums: String, defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).rwkv.v1.Rwkv;
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const read = (file) => fs.readFileSync(file);
  const credentials = grpc.credentials.createSsl(
      read(options.ca), options.key ? read(options.key) : null,
      options.cert ? read(options.cert) : null);
  const channelOptions = {};
  if (options.serverName) channelOptions['grpc.ssl_target_name_override'] = options.serverName;
  const Rwkv = loadService();
  const client = new Rwkv(options.address, credentials, channelOptions);

  const metadata = new grpc.Metadata();
  if (options.token) metadata.add('authorization', `Bearer ${options.token}`);
  const request = {
    text: options.words.join(' '),
    sampling: { temperature: 0 },
    stop: { max_tokens: Number(options.maxTokens), ignore_end_of_text: true },
  };
  const deadline = new Date(Date.now() + 60 * 1000);
  const call = client.Generate(request, metadata, { deadline });
  let done = null;
  call.on('data', (response) => {
    if (response.event === 'delta') process.stdout.write(response.delta.text);
    if (response.event === 'done') done = response.done;
  });
  call.on('error', (error) => {
    const code = Object.keys(grpc.status).find((name) => grpc.status[name] === error.code);
    process.stderr.write(`node-client: ${code}: ${error.details}\n`);
    process.exitCode = 1;
    client.close();  // no 'end' follows an error
  });
  call.on('end', () => {
    if (done === null) {
      process.stderr.write('node-client: the stream ended without its Done message\n');
      process.exitCode = 1;
    } else {
      process.stderr.write(`done: ${done.finish_reason} ${done.usage.generated_tokens}\n`);
    }
    client.close();
  });
}

main();
