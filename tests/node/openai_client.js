#!/usr/bin/env node
// The official `openai` npm package as an outside client of rwkv-serve's OpenAI-compatible HTTP
// API: runs one scenario and prints what the SDK returned as one JSON line.
//
//   node tests/node/openai_client.js --base-url http://127.0.0.1:8080/v1 [--api-key TOKEN]
//       [--session ID [--create] [--expected-version N]] SCENARIO
//
// Scenarios: chat-stream (a streamed greedy chat completion: its text and chunk count), chat (the
// same, whole), stop (a text completion cut at a stop string), session (a chat turn continuing
// --session: our extension fields, passed through as the SDK passes unknown body fields),
// unknown-session and bad-parameter (the SDK's APIError: status and the error body's fields).
// Exit status 0 when the scenario ran (errors included, as results), 1 on anything else.
'use strict';

const OpenAI = require('openai');

function parseArgs(argv) {
  const options = { apiKey: 'none' };
  const valued = { '--base-url': 'baseURL', '--api-key': 'apiKey', '--session': 'session',
                   '--expected-version': 'expectedVersion' };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === '--create') {
      options.create = true;
    } else if (valued[argv[i]] !== undefined && i + 1 < argv.length) {
      options[valued[argv[i]]] = argv[++i];
    } else {
      options.scenario = argv[i];
    }
  }
  return options;
}

const greedyChat = { model: 'rwkv', messages: [{ role: 'user', content: 'hi' }], max_tokens: 24,
                     temperature: 0 };

async function run(client, options) {
  switch (options.scenario) {
    case 'chat-stream': {
      const stream = await client.chat.completions.create({ ...greedyChat, stream: true });
      let text = '';
      let chunks = 0;
      let finishReason = null;
      for await (const chunk of stream) {
        ++chunks;
        const choice = chunk.choices[0];
        if (choice === undefined) continue;
        text += choice.delta.content || '';
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      return { text, chunks, finish_reason: finishReason };
    }
    case 'chat': {
      const completion = await client.chat.completions.create(greedyChat);
      return { text: completion.choices[0].message.content,
               finish_reason: completion.choices[0].finish_reason, usage: completion.usage };
    }
    case 'stop': {
      const completion = await client.completions.create(
          { model: 'rwkv', prompt: 'Once upon a time', max_tokens: 64, temperature: 0,
            stop: ['e'] });
      return { text: completion.choices[0].text, finish_reason: completion.choices[0].finish_reason };
    }
    case 'session': {
      const body = { ...greedyChat, max_tokens: 4, session_id: options.session,
                     create_session: options.create === true };
      if (options.expectedVersion !== undefined) {
        body.expected_version = Number(options.expectedVersion);
      }
      const completion = await client.chat.completions.create(body);
      return { text: completion.choices[0].message.content, session: completion.session };
    }
    case 'unknown-session':
    case 'bad-parameter': {
      const body = options.scenario === 'unknown-session'
                       ? { ...greedyChat, session_id: 'no-such-session' }
                       : { ...greedyChat, temperature: 'hot' };
      try {
        await client.chat.completions.create(body);
        return { status: 200 };
      } catch (error) {
        if (!(error instanceof OpenAI.APIError)) throw error;
        return { status: error.status, error: error.error };
      }
    }
    default:
      throw new Error(`unknown scenario ${options.scenario}`);
  }
}

const options = parseArgs(process.argv.slice(2));
// No retries: a test sees each answer as the server gave it.
const client = new OpenAI({ baseURL: options.baseURL, apiKey: options.apiKey, maxRetries: 0 });
run(client, options).then(
    (result) => process.stdout.write(JSON.stringify(result) + '\n'),
    (error) => {
      process.stderr.write(`openai-client: ${error.stack || error}\n`);
      process.exit(1);
    });
