/**
 * Options: the shop's address and API key. Saving asks for permission to reach that one
 * shop, then checks it (`GET /healthz`) and the key (`GET /api/v1/client`) before storing.
 */

import { createShopApi } from '../lib/api.js';
import { loadSettings, parseApiKey, parseBaseUrl, saveSettings } from '../lib/settings.js';

const $ = (id) => document.getElementById(id);

function showFieldError(field, message) {
  const input = $(field);
  const error = $(`${field}-error`);
  input.setAttribute('aria-invalid', message ? 'true' : 'false');
  error.hidden = !message;
  error.textContent = message ?? '';
}

/** Replace the result area with sentences: [{text, tone: "ok" | "error" | "warning"}]. */
function report(...lines) {
  $('result').replaceChildren(
    ...lines.map(({ text, tone }) =>
      Object.assign(document.createElement('p'), { textContent: text, className: tone }),
    ),
  );
}

const HEALTH_FAILURES = {
  offline: "Your device isn't connected to the internet. Connect, then save again.",
  bad_response: 'That address answered, but not like a ShopALook shop. Check the address.',
};

function healthFailure(error, baseUrl) {
  return (
    HEALTH_FAILURES[error?.kind] ??
    `No shop answered at ${baseUrl}. Check the address and that the shop is running.`
  );
}

function clientFailure(error) {
  if (error?.kind === 'unauthorised')
    return "The shop didn't accept this API key. Check it, or create a new one in the shop's admin.";
  if (error?.kind === 'throttled')
    return 'The shop is getting too many requests from this key. Try again in a minute.';
  return 'The shop answered, but checking the key failed. Try again in a moment.';
}

async function requestAccess(originPattern) {
  try {
    return await chrome.permissions.request({ origins: [originPattern] });
  } catch (error) {
    console.warn('ShopALook: permission request failed', error);
    return false;
  }
}

/** Drop the permission for a shop the options no longer name (least privilege). */
async function releaseAccess(previous, next) {
  if (!previous?.originPattern || previous.originPattern === next.originPattern) return;
  try {
    await chrome.permissions.remove({ origins: [previous.originPattern] });
  } catch (error) {
    console.warn('ShopALook: old permission kept', error);
  }
}

async function onSubmit(event) {
  event.preventDefault();
  const base = parseBaseUrl($('base-url').value);
  const key = parseApiKey($('api-key').value);
  showFieldError('base-url', base.ok ? null : base.message);
  showFieldError('api-key', key.ok ? null : key.message);
  if (!base.ok || !key.ok) {
    $(base.ok ? 'api-key' : 'base-url').focus();
    return;
  }
  // First, while the click still counts as a user gesture: the browser asks the shopper.
  if (!(await requestAccess(base.originPattern))) {
    report({
      text: `Without permission to reach ${base.origin}, the extension can't send photos to the shop.`,
      tone: 'error',
    });
    return;
  }
  $('save').disabled = true;
  report({ text: 'Checking the shop…', tone: 'warning' });
  try {
    await checkAndSave(base, key.key);
  } finally {
    $('save').disabled = false;
  }
}

async function checkAndSave(base, apiKey) {
  const api = createShopApi({ baseUrl: base.baseUrl, apiKey });
  let health;
  try {
    health = await api.health();
  } catch (error) {
    showFieldError('base-url', healthFailure(error, base.baseUrl));
    report({ text: 'Not saved: the shop could not be reached.', tone: 'error' });
    return;
  }
  let client;
  try {
    client = await api.client();
  } catch (error) {
    showFieldError('api-key', clientFailure(error));
    report({ text: 'Not saved: the API key was not accepted.', tone: 'error' });
    return;
  }
  const previous = await loadSettings();
  await saveSettings({ baseUrl: base.baseUrl, apiKey });
  await releaseAccess(previous, base);
  const lines = [
    { text: `Saved. Connected to the shop as “${client.name}” (limit ${client.rate}).`, tone: 'ok' },
  ];
  if (health.status !== 'ok') {
    lines.push({
      text: `The shop reports a problem (${health.status}); looks may fail until it recovers.`,
      tone: 'warning',
    });
  }
  if (base.insecure) {
    lines.push({
      text: 'This address uses http://, so the API key travels unencrypted. Use https:// for a real shop.',
      tone: 'warning',
    });
  }
  report(...lines);
}

async function start() {
  const settings = await loadSettings();
  if (settings) {
    $('base-url').value = settings.baseUrl;
    $('api-key').value = settings.apiKey;
  }
  $('show-key').addEventListener('change', (event) => {
    $('api-key').type = event.target.checked ? 'text' : 'password';
  });
  $('settings-form').addEventListener('submit', onSubmit);
  document.documentElement.dataset.ready = 'true';
}

start();
