// What the Node.js tests of `provhost serve` share: starting the emulator and the server as child processes
// (stopped when the test file ends), the emulator's control API, and the variables ctest sets.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

const children = [];

export function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through ctest`);
  return value;
}

// The bundled providers, as the build lists them (PROVHOST_BUNDLED_PROVIDERS: one name a line).
export function bundledProviders() {
  return readFileSync(required('PROVHOST_BUNDLED_PROVIDERS'), 'utf8').split('\n').filter((name) => name);
}

// Starts a server process and resolves with the origin it prints ("listening on http://...").
export function startServer(command, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.on('data', (data) => (stderr += data));
    const timer = setTimeout(() => reject(new Error(`${command} did not start within 10 s: ${stderr}`)), 10_000);
    child.on('error', (error) => reject(error));
    child.on('exit', (code) => reject(new Error(`${command} exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^listening on (http:\/\/\S+)/.exec(line);
      if (!match) return;
      clearTimeout(timer);
      resolve(match[1]);
    });
  });
}

export function stopServers() {
  for (const child of children) child.kill('SIGTERM');
}

export async function emulatorControl(origin, method, path, body) {
  const response = await fetch(`${origin}/__emulator/${path}`, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(response.status, 200, `emulator ${method} ${path}`);
  return response.text();
}

// The emulator, and `provhost serve` in front of it with the key `apiKey`: every bundled provider pointed at the
// emulator, and the emulator's OpenAI-compatible endpoint as the OpenAICompatible instance "Emu" (model
// gpt-4o-mini), the one provider that declares tools and response formats. Resolves with both origins and the text
// every provider of the emulator answers.
export async function startServeWithEmulator(apiKey) {
  const emulator = await startServer(required('PROVHOST_EMULATOR_BIN'), ['--port', '0']);
  const upstreams = bundledProviders().flatMap((name) => ['--upstream', `${name}=${emulator}`]);
  const serve = await startServer(
    required('PROVHOST_BIN'),
    [...upstreams, 'serve', '--listen', '127.0.0.1:0', '--api-key', apiKey],
    {
      PROVHOST_BACKOFF_SCALE: '0.01',
      PROVHOST_PLUGIN_PATH: '',
      PROVHOST_INSTANCES: 'Emu',
      PROVHOST_EMU_BASE_URL: `${emulator}/openai/v1`,
      PROVHOST_EMU_API_KEY_ENV: 'EMU_TEST_KEY',
      EMU_TEST_KEY: 'sk-emulator',
      PROVHOST_EMU_MODELS: 'gpt-4o-mini',
    },
  );
  const expectedText = await emulatorControl(emulator, 'GET', 'text');
  assert.ok(expectedText.length > 0);
  return { emulator, serve, expectedText };
}
