import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadSettings, parseApiKey, parseBaseUrl, saveSettings } from '../src/lib/settings.js';

describe('parseBaseUrl', () => {
  it('accepts the demo server and gives the one origin to ask permission for', () => {
    assert.deepEqual(parseBaseUrl(' http://127.0.0.1:8000/ '), {
      ok: true,
      baseUrl: 'http://127.0.0.1:8000',
      origin: 'http://127.0.0.1:8000',
      originPattern: 'http://127.0.0.1:8000/*',
      insecure: false,
    });
  });

  it('keeps a path prefix, drops query and fragment', () => {
    const parsed = parseBaseUrl('https://shop.example/shopalook/?utm=1#x');
    assert.equal(parsed.baseUrl, 'https://shop.example/shopalook');
    assert.equal(parsed.originPattern, 'https://shop.example/*');
  });

  it('warns about http:// to a public host', () => {
    assert.equal(parseBaseUrl('http://shop.example').insecure, true);
    assert.equal(parseBaseUrl('https://shop.example').insecure, false);
  });

  it('refuses what is not an http(s) address, with a sentence', () => {
    for (const input of [
      '',
      'shop.example',
      'ftp://shop.example',
      'javascript:alert(1)',
      'https://me:pw@shop.example',
    ]) {
      const parsed = parseBaseUrl(input);
      assert.equal(parsed.ok, false, input);
      assert.match(parsed.message, /\.$/);
    }
  });
});

describe('parseApiKey', () => {
  it('trims and refuses empty keys or keys with spaces', () => {
    assert.deepEqual(parseApiKey('  abc.DEF_123 '), { ok: true, key: 'abc.DEF_123' });
    assert.equal(parseApiKey('').ok, false);
    assert.equal(parseApiKey('abc def').ok, false);
  });
});

describe('stored settings', () => {
  function memoryStorage() {
    const data = {};
    return {
      data,
      get: async (key) => (key in data ? { [key]: data[key] } : {}),
      set: async (values) => Object.assign(data, values),
    };
  }

  it('round-trips and reads as null until both fields are saved', async () => {
    const storage = memoryStorage();
    assert.equal(await loadSettings(storage), null);
    await saveSettings({ baseUrl: 'https://shop.example/', apiKey: 'k' }, storage);
    assert.deepEqual(await loadSettings(storage), {
      baseUrl: 'https://shop.example',
      apiKey: 'k',
      originPattern: 'https://shop.example/*',
    });
  });
});
