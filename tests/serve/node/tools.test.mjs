// Tools through `provhost serve`, with the official OpenAI client for Node.js and the Vercel AI SDK: a request with
// tools goes to the one provider that declares them (the OpenAICompatible instance "Emu", chained to the emulator's
// OpenAI-compatible endpoint, whose model calls the first tool it is given and then says what the tool answered).
//
// Run by ctest (test "serve.tools through openai-node and the AI SDK"), which sets PROVHOST_BIN,
// PROVHOST_EMULATOR_BIN and PROVHOST_BUNDLED_PROVIDERS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServeWithEmulator, stopServers } from './fixture.mjs';

let OpenAI, createOpenAI, generateText, streamText, stepCountIs, tool, z;
try {
  ({ default: OpenAI } = await import('openai'));
  ({ createOpenAI } = await import('@ai-sdk/openai'));
  ({ generateText, streamText, stepCountIs, tool } = await import('ai'));
  ({ z } = await import('zod'));
} catch (error) {
  console.error('an npm package of the serve tests is missing: run scripts/deps (npm ci --prefix tests/serve/node)');
  throw error;
}

const apiKey = 'sk-provhost-node-tools';
const weatherTool = {
  type: 'function',
  function: {
    name: 'weather',
    description: "Today's weather",
    parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
  },
};

describe('tools through provhost serve', () => {
  let client, aiSdk;

  before(async () => {
    const { serve } = await startServeWithEmulator(apiKey);
    client = new OpenAI({ baseURL: `${serve}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
    aiSdk = createOpenAI({ baseURL: `${serve}/v1`, apiKey });
  });

  after(stopServers);

  test('openai-node: a tool call, the tool message, then the final answer', async () => {
    const messages = [{ role: 'user', content: 'Weather in Oslo?' }];
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', tools: [weatherTool], messages });
    assert.equal(first.provider, 'Emu');
    assert.equal(first.choices[0].finish_reason, 'tool_calls');
    const { message } = first.choices[0];
    assert.equal(message.content, null);
    assert.equal(message.tool_calls.length, 1);
    const [call] = message.tool_calls;
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { query: 'emulator' });

    messages.push(message, { role: 'tool', tool_call_id: call.id, content: 'rain' });
    const final = await client.chat.completions.create({ model: 'gpt-4o-mini', tools: [weatherTool], messages });
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.equal(final.choices[0].message.content, 'The tool said: rain');
  });

  test('openai-node: a streamed tool call arrives in pieces that add up to the call', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      tools: [weatherTool],
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Weather in Oslo?' }],
    });
    const calls = [];
    let finish = null;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        if (choice.finish_reason) finish = choice.finish_reason;
        for (const piece of choice.delta.tool_calls ?? []) {
          if (piece.id) calls[piece.index] = { id: piece.id, name: piece.function.name, arguments: '' };
          calls[piece.index].arguments += piece.function.arguments ?? '';
        }
      }
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].name, 'weather');
    assert.deepEqual(JSON.parse(calls[0].arguments), { query: 'emulator' });
  });

  test('openai-node: tools for a provider that has none are a BadRequestError naming tools', async () => {
    await assert.rejects(
      client.chat.completions.create({
        model: 'Koala/gpt-4o-mini',
        tools: [weatherTool],
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
      }),
      (error) => error instanceof OpenAI.BadRequestError && error.param === 'tools' && error.code === 'unsupported_parameter',
    );
  });

  const weather = () =>
    tool({
      description: "Today's weather",
      inputSchema: z.object({ query: z.string() }),
      execute: async ({ query }) => (query === 'emulator' ? 'rain' : 'unknown'),
    });

  test('the AI SDK (Responses API): generateText runs the agent loop, a tool step then the answer', async () => {
    const result = await generateText({
      model: aiSdk('gpt-4o-mini'),
      tools: { weather: weather() },
      stopWhen: stepCountIs(3),
      prompt: 'Weather in Oslo?',
    });
    assert.equal(result.steps.length, 2);
    assert.equal(result.steps[0].finishReason, 'tool-calls');
    assert.equal(result.steps[0].toolCalls.length, 1);
    assert.equal(result.steps[0].toolCalls[0].toolName, 'weather');
    assert.deepEqual(result.steps[0].toolCalls[0].input, { query: 'emulator' });
    assert.equal(result.steps[0].toolResults[0].output, 'rain');
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.text, 'The tool said: rain');
  });

  test('the AI SDK (Responses API): streamText streams the tool call, its result and the answer', async () => {
    const result = streamText({
      model: aiSdk('gpt-4o-mini'),
      tools: { weather: weather() },
      stopWhen: stepCountIs(3),
      prompt: 'Weather in Oslo?',
    });
    const kinds = [];
    let text = '';
    for await (const part of result.fullStream) {
      if (part.type === 'error') throw part.error;
      kinds.push(part.type);
      if (part.type === 'tool-call') {
        assert.equal(part.toolName, 'weather');
        assert.deepEqual(part.input, { query: 'emulator' });
      }
      if (part.type === 'tool-result') assert.equal(part.output, 'rain');
      if (part.type === 'text-delta') text += part.text;
    }
    assert.ok(kinds.indexOf('tool-call') < kinds.indexOf('tool-result'));
    assert.ok(kinds.indexOf('tool-result') < kinds.indexOf('text-delta'));
    assert.equal(text, 'The tool said: rain');
    assert.equal((await result.steps).length, 2);
  });
});
