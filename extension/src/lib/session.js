/**
 * The current look lives in `chrome.storage.session` (cleared when the browser closes,
 * never synced), never in service-worker globals, which die with the worker.
 *   view       the state machine (view-state.js)
 *   request    what to send again on retry: {srcUrl, pageUrl, tabId, frameId, region, source}
 *   photo      {runId, src} what the panel shows: the image URL, or a data: URL of its bytes
 *   selection  {runId, index} the item whose products are shown
 *   itemQuery:<index>  {runId, status, overrides, tags_used, tags_relaxed, products, problem}
 */

import { IDLE_VIEW, reduceView } from './view-state.js';

export const KEYS = Object.freeze({
  view: 'view',
  request: 'request',
  photo: 'photo',
  selection: 'selection',
});
export const ITEM_QUERY_PREFIX = 'itemQuery:';

const area = () => chrome.storage.session;

export async function readSession() {
  const all = await area().get(null);
  const itemQueries = {};
  for (const [key, value] of Object.entries(all)) {
    if (key.startsWith(ITEM_QUERY_PREFIX)) itemQueries[key.slice(ITEM_QUERY_PREFIX.length)] = value;
  }
  return {
    view: all[KEYS.view] ?? IDLE_VIEW,
    request: all[KEYS.request] ?? null,
    photo: all[KEYS.photo] ?? null,
    selection: all[KEYS.selection] ?? null,
    itemQueries,
  };
}

/** Apply a state-machine event; returns the stored view. */
export async function dispatch(event) {
  const { [KEYS.view]: stored } = await area().get(KEYS.view);
  const next = reduceView(stored ?? IDLE_VIEW, event);
  if (next !== stored) await area().set({ [KEYS.view]: next });
  return next;
}

/** A new run: its request and photo replace the previous look's, item queries are dropped. */
export async function beginRun(runId, request, photo, phase) {
  const all = await area().get(null);
  const stale = Object.keys(all).filter((key) => key.startsWith(ITEM_QUERY_PREFIX));
  if (stale.length) await area().remove(stale);
  await area().set({
    [KEYS.request]: request,
    [KEYS.photo]: { runId, ...photo },
    [KEYS.selection]: { runId, index: 0 },
    [KEYS.view]: reduceView(all[KEYS.view], { type: 'start', runId, phase, at: Date.now() }),
  });
}

/** Write `values` only while `runId` is still the current run. */
export async function setForRun(runId, values) {
  const { [KEYS.view]: view } = await area().get(KEYS.view);
  if (view?.runId !== runId) return false;
  await area().set(values);
  return true;
}

export function itemQueryKey(index) {
  return `${ITEM_QUERY_PREFIX}${index}`;
}
