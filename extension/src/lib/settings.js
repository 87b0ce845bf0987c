/** The shop's address and API key: checked here, kept in `chrome.storage.local`. */

import { isPrivateHost } from './image-source.js';

const SETTINGS_KEY = 'settings';

/**
 * Check an API base URL typed by the shopper. Returns `{ok: true, baseUrl, origin,
 * originPattern, insecure}` (`originPattern` is the host permission to ask for) or
 * `{ok: false, message}`.
 */
export function parseBaseUrl(input) {
  const text = String(input ?? '').trim();
  if (!text) return { ok: false, message: "Enter the shop's address, for example https://shop.example." };
  let url;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, message: 'That is not a web address. It should start with https://.' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return {
      ok: false,
      message: 'The address must start with https:// (or http:// for a shop on this computer).',
    };
  }
  if (url.username || url.password) {
    return { ok: false, message: 'Leave the user name and password out of the address; use the API key.' };
  }
  url.search = '';
  url.hash = '';
  return {
    ok: true,
    baseUrl: url.href.replace(/\/+$/, ''),
    origin: url.origin,
    originPattern: `${url.origin}/*`,
    // An http:// shop elsewhere than this computer or its network would see the key in clear.
    insecure: url.protocol === 'http:' && !isPrivateHost(url.hostname),
  };
}

export function parseApiKey(input) {
  const key = String(input ?? '').trim();
  if (!key) return { ok: false, message: 'Enter the API key the shop gave you.' };
  if (/\s/.test(key))
    return { ok: false, message: 'An API key has no spaces in it. Check that you copied all of it.' };
  return { ok: true, key };
}

/** `{baseUrl, apiKey, originPattern}` or null when the options were never saved. */
export async function loadSettings(storage = chrome.storage.local) {
  const { [SETTINGS_KEY]: settings } = await storage.get(SETTINGS_KEY);
  if (!settings?.baseUrl || !settings?.apiKey) return null;
  return settings;
}

export async function saveSettings({ baseUrl, apiKey }, storage = chrome.storage.local) {
  const parsed = parseBaseUrl(baseUrl);
  if (!parsed.ok) throw new Error(parsed.message);
  await storage.set({
    [SETTINGS_KEY]: { baseUrl: parsed.baseUrl, apiKey, originPattern: parsed.originPattern },
  });
}
