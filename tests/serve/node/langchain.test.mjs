// LangChain.js (@langchain/openai's ChatOpenAI) against `provhost serve`: invoke, stream, bindTools and
// withStructuredOutput. Tools and response formats reach the one provider that declares them (the OpenAICompatible
// instance "Emu", chained to the emulator's OpenAI-compatible endpoint); a provider without them is a clear 400.
//
// Run by ctest (test "serve.LangChain.js against provhost serve"), which sets PROVHOST_BIN, PROVHOST_EMULATOR_BIN
// and PROVHOST_BUNDLED_PROVIDERS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServeWithEmulator, stopServers } from './fixture.mjs';

let ChatOpenAI, z;
try {
  ({ ChatOpenAI } = await import('@langchain/openai'));
  ({ z } = await import('zod'));
} catch (error) {
  console.error('an npm package of the serve tests is missing: run scripts/deps (npm ci --prefix tests/serve/node)');
  throw error;
}

const apiKey = 'sk-provhost-node-langchain';

describe('LangChain.js against provhost serve', () => {
  let serve, expectedText;
  const chat = (model) => new ChatOpenAI({ model, apiKey, maxRetries: 0, configuration: { baseURL: `${serve}/v1` } });

  before(async () => {
    ({ serve, expectedText } = await startServeWithEmulator(apiKey));
  });

  after(stopServers);

  test('invoke answers with the whole text and its usage', async () => {
    const message = await chat('gpt-4o-mini').invoke('Hello');
    assert.equal(message.content, expectedText);
    assert.ok(message.usage_metadata.output_tokens > 0);
  });

  test('stream delivers the text in chunks', async () => {
    let text = '';
    let chunks = 0;
    for await (const chunk of await chat('gpt-4o-mini').stream('Hello')) {
      text += chunk.content;
      chunks += 1;
    }
    assert.ok(chunks > 1);
    assert.equal(text, expectedText);
  });

  test('bindTools returns the model tool_calls', async () => {
    const weather = { name: 'weather', description: "Today's weather", schema: z.object({ query: z.string() }) };
    const message = await chat('gpt-4o-mini').bindTools([weather]).invoke('Weather in Oslo?');
    assert.equal(message.tool_calls.length, 1);
    assert.equal(message.tool_calls[0].name, 'weather');
    assert.deepEqual(message.tool_calls[0].args, { query: 'emulator' });
    assert.equal(message.tool_calls[0].id, 'call_emulator_1');
  });

  test('withStructuredOutput returns the object, in JSON mode and with a JSON schema', async () => {
    const schema = z.object({ answer: z.string() });
    for (const method of ['jsonMode', 'jsonSchema']) {
      const answer = await chat('gpt-4o-mini').withStructuredOutput(schema, { method }).invoke('Hello');
      assert.deepEqual(answer, { answer: expectedText }, method);
    }
  });

  test('withStructuredOutput on a provider without response formats is a 400 naming response_format', async () => {
    await assert.rejects(
      chat('Koala/gpt-4o-mini').withStructuredOutput(z.object({ answer: z.string() }), { method: 'jsonMode' }).invoke('Hi'),
      (error) => error.status === 400 && /response_format/.test(error.message),
    );
  });
});
