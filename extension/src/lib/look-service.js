/**
 * What the service worker does for the shopper: send the clicked photo, wait for the
 * look, re-query an item's products. Every result goes to session storage (session.js).
 */

import { createShopApi, readImageInPage } from './api.js';
import {
  ImageReadError,
  MAX_IMAGE_BYTES,
  dataUrlToBlob,
  filenameForType,
  planImageSource,
} from './image-source.js';
import { createAndWait } from './look-runner.js';
import { FETCH_FAILURE_CODES, ProblemError, problemForError } from './problems.js';
import * as session from './session.js';
import { loadSettings } from './settings.js';
import { buildTagQuery } from './tags.js';

// Errors the shopper is told about; anything else is also logged, as a bug.
const KNOWN_ERRORS = { ApiError: true, ProblemError: true, ImageReadError: true, LookTimeoutError: true };

/** The shopper clicked "Shop this look" on `srcUrl`. */
export function shopImage({ srcUrl, pageUrl, tabId, frameId }) {
  const request = {
    srcUrl,
    pageUrl: httpUrlOrNull(pageUrl),
    tabId: tabId ?? null,
    frameId: frameId ?? 0,
    region: null,
    source: planImageSource(srcUrl),
  };
  return runLook(request);
}

/** Send the current photo again: after an error, or with a region the shopper dragged. */
export async function rerunLook({ region } = {}) {
  const { request, photo } = await session.readSession();
  if (!request) return;
  const storedBytes = photo?.src?.startsWith('data:') ? photo.src : null;
  await runLook(region === undefined ? request : { ...request, region }, { photoDataUrl: storedBytes });
}

async function runLook(request, { photoDataUrl = null } = {}) {
  const runId = crypto.randomUUID();
  const shownSrc = photoDataUrl ?? (request.source === 'url' ? request.srcUrl : null);
  await session.beginRun(runId, request, { src: shownSrc }, request.source === 'url' ? 'sending' : 'reading');
  try {
    const api = await shopApi();
    let look = request.source === 'url' ? await sendByUrl(api, runId, request) : null;
    if (!look) look = await sendBytes(api, runId, request, photoDataUrl);
    await session.dispatch({ type: 'finished', runId, look });
  } catch (error) {
    if (!(error instanceof Error && error.name in KNOWN_ERRORS))
      console.error('ShopALook: look failed', error);
    await session.dispatch({ type: 'failed', runId, problem: problemForError(error), at: Date.now() });
  }
}

/** The API client for the saved options, or a ProblemError the shopper can act on. */
async function shopApi() {
  const settings = await loadSettings();
  if (!settings) throw new ProblemError('not_configured');
  const granted = await chrome.permissions.contains({ origins: [settings.originPattern] });
  if (!granted) throw new ProblemError('no_permission');
  return createShopApi(settings);
}

function reportProgress(runId) {
  return (phase, elapsedMs) =>
    session.dispatch({ type: 'progress', runId, phase, elapsedMs, at: Date.now() });
}

/** The shop downloads the photo itself; null when it could not (then the bytes go instead). */
async function sendByUrl(api, runId, request) {
  try {
    const look = await createAndWait({
      api,
      submit: () =>
        api.createLookFromUrl({ imageUrl: request.srcUrl, pageUrl: request.pageUrl, region: request.region }),
      onProgress: reportProgress(runId),
    });
    if (look.status === 'failed' && FETCH_FAILURE_CODES.has(look.error?.code)) return null;
    return look;
  } catch (error) {
    if (error?.kind === 'url_refused') return null;
    throw error;
  }
}

async function sendBytes(api, runId, request, photoDataUrl) {
  let dataUrl = photoDataUrl;
  if (!dataUrl) {
    await session.dispatch({ type: 'progress', runId, phase: 'reading', at: Date.now() });
    dataUrl = await readPhotoBytes(request);
    await rememberBytes(runId, request, dataUrl);
  }
  const { blob, type } = dataUrlToBlob(dataUrl);
  await session.dispatch({ type: 'progress', runId, phase: 'sending', at: Date.now() });
  return createAndWait({
    api,
    submit: () =>
      api.createLookFromBytes({
        image: blob,
        filename: filenameForType(type),
        pageUrl: request.pageUrl,
        region: request.region,
      }),
    onProgress: reportProgress(runId),
  });
}

/** The photo's bytes as a data: URL, read inside the page the shopper clicked in. */
async function readPhotoBytes(request) {
  if (request.source === 'data') return request.srcUrl;
  if (request.tabId == null || request.tabId < 0) throw new ImageReadError('image_unreadable', 'no tab');
  let results;
  try {
    results = await chrome.scripting.executeScript({
      target: { tabId: request.tabId, frameIds: [request.frameId ?? 0] },
      func: readImageInPage,
      args: [request.srcUrl, MAX_IMAGE_BYTES],
    });
  } catch (error) {
    // The tab was closed or navigated away, or the browser forbids scripts there.
    throw new ImageReadError('image_unreadable', String(error));
  }
  const answer = results?.[0]?.result;
  if (answer?.dataUrl) return answer.dataUrl;
  throw new ImageReadError(answer?.error ?? 'image_unreadable');
}

/** Keep the bytes for retries and regions; a photo too big for session storage is read again. */
async function rememberBytes(runId, request, dataUrl) {
  try {
    await session.setForRun(runId, {
      [session.KEYS.photo]: { runId, src: dataUrl },
      // A data: URL is the bytes already: keep one copy (session storage holds 10 MB).
      [session.KEYS.request]: {
        ...request,
        source: 'bytes',
        srcUrl: request.source === 'data' ? null : request.srcUrl,
      },
    });
  } catch (error) {
    console.warn('ShopALook: photo not kept for retries', error);
  }
}

/** The shopper changed a tag chip of item `index`: ask for that item's products again. */
export async function requeryItem({ index, overrides }) {
  const { view } = await session.readSession();
  if (view.status !== 'results') return;
  const item = view.look.items.find((candidate) => candidate.index === index);
  if (!item) return;
  const key = session.itemQueryKey(index);
  const runId = view.runId;
  await session.setForRun(runId, { [key]: { runId, status: 'loading', overrides } });
  try {
    const api = await shopApi();
    const result = await api.itemProducts(view.look.id, index, {
      tags: buildTagQuery(item.tags_used, overrides),
    });
    await session.setForRun(runId, {
      [key]: {
        runId,
        status: 'done',
        overrides,
        tags_used: result.tags_used ?? [],
        tags_relaxed: result.tags_relaxed ?? [],
        products: result.products ?? [],
      },
    });
  } catch (error) {
    await session.setForRun(runId, {
      [key]: { runId, status: 'error', overrides, problem: problemForError(error) },
    });
  }
}

/** The values a tag chip of `kind` can take (for changing it). */
export async function tagValues({ kind }) {
  const api = await shopApi();
  const answer = await api.tagValues(kind);
  return Array.isArray(answer.values) ? answer.values.map(String) : [];
}

function httpUrlOrNull(text) {
  try {
    const url = new URL(text);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    url.hash = '';
    return url.href;
  } catch {
    return null;
  }
}
