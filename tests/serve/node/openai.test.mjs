// `provhost serve` through the official OpenAI client library for Node.js and the Vercel AI SDK,
// against the upstream emulator: the model list, every provider streaming and not through chat
// completions and the Responses API, usage, stop and max_tokens, and the library's own error
// classes for an unknown model, an upstream rate limit and a wrong API key.
//
// Run by ctest (test "serve.the official OpenAI Node.js client against provhost serve"), which sets PROVHOST_BIN, PROVHOST_EMULATOR_BIN and
// PROVHOST_BUNDLED_PROVIDERS (the build's list of bundled providers, one name a line).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bundledProviders, emulatorControl, required, startServer, stopServers } from './fixture.mjs';

let OpenAI, createOpenAI, generateText, streamText;
try {
  ({ default: OpenAI } = await import('openai'));
  ({ createOpenAI } = await import('@ai-sdk/openai'));
  ({ generateText, streamText } = await import('ai'));
} catch (error) {
  console.error('an npm package of the serve tests is missing: run scripts/deps (npm ci --prefix tests/serve/node)');
  throw error;
}

const providers = bundledProviders();
const apiKey = 'sk-provhost-node-test';

describe('provhost serve with the OpenAI Node.js library', () => {
  let emulator, client, aiSdk, expectedText;
  const defaultModels = {};

  before(async () => {
    emulator = await startServer(required('PROVHOST_EMULATOR_BIN'), ['--port', '0']);
    const upstreams = providers.flatMap((name) => ['--upstream', `${name}=${emulator}`]);
    const serve = await startServer(
      required('PROVHOST_BIN'),
      [...upstreams, 'serve', '--listen', '127.0.0.1:0', '--api-key', apiKey],
      { PROVHOST_BACKOFF_SCALE: '0.01', PROVHOST_PLUGIN_PATH: '' },
    );
    client = new OpenAI({ baseURL: `${serve}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
    aiSdk = createOpenAI({ baseURL: `${serve}/v1`, apiKey });
    expectedText = await emulatorControl(emulator, 'GET', 'text');
    assert.ok(expectedText.length > 0);
    const listing = await fetch(`${serve}/v1/providers`, { headers: { Authorization: `Bearer ${apiKey}` } });
    for (const provider of (await listing.json()).providers) defaultModels[provider.name] = provider.default_model;
  });

  after(stopServers);

  test('models.list() names every provider model, plain and as Provider/model', async () => {
    const ids = [];
    for await (const model of client.models.list()) {
      assert.equal(model.object, 'model');
      assert.equal(typeof model.created, 'number');
      assert.ok(model.owned_by);
      ids.push(model.id);
    }
    for (const id of ['gpt-4o-mini', 'gpt-3.5-turbo', 'Koala/gpt-4o-mini', 'FlowGpt/google-gemini', 'FreeNetfly/gpt-4']) {
      assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
    }
  });

  for (const provider of providers) {
    test(`${provider}: a non-streaming completion carries the whole text`, async () => {
      const completion = await client.chat.completions.create({
        model: defaultModels[provider],
        provider,
        messages: [{ role: 'user', content: 'Hello' }],
        user: 'node-test',
        seed: 7,
        n: 1,
      });
      assert.equal(completion.object, 'chat.completion');
      assert.match(completion.id, /^chatcmpl-/);
      assert.equal(completion.choices.length, 1);
      assert.equal(completion.choices[0].index, 0);
      assert.equal(completion.choices[0].message.role, 'assistant');
      assert.equal(completion.choices[0].message.content, expectedText);
      assert.equal(completion.choices[0].finish_reason, 'stop');
      assert.equal(completion.provider, provider);
      assert.ok(completion.usage.prompt_tokens > 0);
      assert.ok(completion.usage.completion_tokens > 0);
      assert.equal(completion.usage.total_tokens, completion.usage.prompt_tokens + completion.usage.completion_tokens);
    });

    test(`${provider}: stop and max_tokens hold, with finish_reason stop and length`, async () => {
      const stopped = await client.chat.completions.create({
        model: `${provider}/${defaultModels[provider]}`,
        stop: ['[DONE]'],
        messages: [{ role: 'user', content: 'Hello' }],
      });
      assert.equal(stopped.choices[0].message.content, expectedText.slice(0, expectedText.indexOf('[DONE]')));
      assert.equal(stopped.choices[0].finish_reason, 'stop');
      const limited = await client.chat.completions.create({
        model: `${provider}/${defaultModels[provider]}`,
        max_completion_tokens: 4,
        messages: [{ role: 'user', content: 'Hello' }],
      });
      // Ylokh declares param:max_tokens: its upstream would count (the emulator does not).
      const expectLimit = provider !== 'Ylokh';
      assert.equal(limited.choices[0].finish_reason, expectLimit ? 'length' : 'stop');
      if (expectLimit) {
        assert.equal(limited.usage.completion_tokens, 4);
        assert.ok(expectedText.startsWith(limited.choices[0].message.content));
        assert.ok(limited.choices[0].message.content.length < expectedText.length);
      }
    });

    test(`${provider}: a streaming completion delivers every delta, then one finish`, async () => {
      const stream = await client.chat.completions.create({
        model: `${provider}/${defaultModels[provider]}`,
        stream: true,
        stream_options: { include_usage: true },
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Hello' },
        ],
      });
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      assert.ok(chunks.length >= 2);
      assert.equal(chunks[0].choices[0].delta.role, 'assistant');
      const ids = new Set(chunks.map((chunk) => chunk.id));
      const created = new Set(chunks.map((chunk) => chunk.created));
      assert.equal(ids.size, 1);
      assert.equal(created.size, 1);
      let text = '';
      const finishes = [];
      chunks.forEach((chunk, i) => {
        assert.equal(chunk.object, 'chat.completion.chunk');
        for (const choice of chunk.choices) {
          assert.equal(typeof choice.index, 'number');
          text += choice.delta.content ?? '';
          if (choice.finish_reason !== null && choice.finish_reason !== undefined) finishes.push([i, choice.finish_reason]);
        }
      });
      assert.equal(text, expectedText);
      // include_usage: the finish, then one last chunk without choices that has the usage.
      assert.deepEqual(finishes, [[chunks.length - 2, 'stop']]);
      const { usage, choices } = chunks[chunks.length - 1];
      assert.equal(choices.length, 0);
      assert.ok(usage.completion_tokens > 0);
      assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    });
  }

  for (const provider of providers) {
    test(`${provider}: responses.create answers whole and streamed, with usage`, async () => {
      const model = `${provider}/${defaultModels[provider]}`;
      const response = await client.responses.create({ model, instructions: 'Be brief.', input: 'Hello' });
      assert.equal(response.object, 'response');
      assert.equal(response.status, 'completed');
      assert.equal(response.output_text, expectedText);
      assert.equal(response.usage.total_tokens, response.usage.input_tokens + response.usage.output_tokens);

      const stream = await client.responses.create({
        model,
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'Hello' }] }],
        stream: true,
      });
      let text = '';
      const types = [];
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'response.output_text.delta') text += event.delta;
      }
      assert.equal(text, expectedText);
      assert.equal(types[0], 'response.created');
      assert.equal(types.at(-1), 'response.completed');
      const sequence = types.filter((type) => type !== 'response.output_text.delta');
      assert.deepEqual(sequence, [
        'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
        'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
      ]);
    });
  }

  test('responses.create with max_output_tokens ends incomplete, for the reason OpenAI gives', async () => {
    const response = await client.responses.create({ model: 'Koala/gpt-4o-mini', input: 'Hello', max_output_tokens: 3 });
    assert.equal(response.status, 'incomplete');
    assert.equal(response.incomplete_details.reason, 'max_output_tokens');
    assert.equal(response.usage.output_tokens, 3);
    assert.ok(expectedText.startsWith(response.output_text));
  });

  test('the Vercel AI SDK default path (the Responses API) generates and streams text with usage', async () => {
    const model = aiSdk('FlowGpt/google-gemini');
    const generated = await generateText({ model, prompt: 'Hello' });
    assert.equal(generated.text, expectedText);
    assert.ok(generated.usage.inputTokens > 0);
    assert.ok(generated.usage.outputTokens > 0);
    assert.equal(generated.finishReason, 'stop');

    const streamed = streamText({ model, system: 'Be brief.', prompt: 'Hello' });
    let text = '';
    for await (const delta of streamed.textStream) text += delta;
    assert.equal(text, expectedText);
    const usage = await streamed.usage;
    assert.ok(usage.outputTokens > 0);
    assert.equal(await streamed.finishReason, 'stop');
  });

  test('an unknown model raises NotFoundError', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'Hi' }] }),
      (error) => error instanceof OpenAI.NotFoundError && error.status === 404 && error.code === 'model_not_found',
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'Nobody/gpt-4', stream: true, messages: [{ role: 'user', content: 'Hi' }] }),
      OpenAI.NotFoundError,
    );
  });

  test('an upstream 429 raises RateLimitError', async () => {
    await emulatorControl(emulator, 'POST', 'fault', { route: 'koala', fault: 'rate_limit' });
    try {
      for (const stream of [false, true]) {
        await assert.rejects(
          client.chat.completions.create({ model: 'Koala/gpt-4o-mini', stream, messages: [{ role: 'user', content: 'Hi' }] }),
          (error) => error instanceof OpenAI.RateLimitError && error.status === 429,
        );
      }
    } finally {
      await emulatorControl(emulator, 'DELETE', 'fault');
    }
  });

  test('a wrong API key raises AuthenticationError', async () => {
    const wrong = new OpenAI({ baseURL: client.baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.models.list(), OpenAI.AuthenticationError);
    await assert.rejects(
      wrong.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'Hi' }] }),
      (error) => error instanceof OpenAI.AuthenticationError && error.status === 401,
    );
  });

  test('malformed fields raise BadRequestError naming the parameter', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4', messages: 'not a list' }),
      (error) => error instanceof OpenAI.BadRequestError && error.param === 'messages',
    );
  });
});
