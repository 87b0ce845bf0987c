/**
 * The shop's HTTP API. This is the one module of the extension that calls `fetch`:
 * every request to the network, and the mapping of its failures to `ApiError`, is here.
 */

export const LOOK_WAIT_SECONDS = 3;
export const PRODUCTS_PER_ITEM = 12;
const REQUEST_TIMEOUT_MS = 30_000;

/** A failed call, with `kind` saying what a shopper needs to know (see problems.js). */
export class ApiError extends Error {
  constructor(kind, { status = null, code = null, detail = null, retryAfterSeconds = null } = {}) {
    super(detail || kind);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date); null when absent. */
export function parseRetryAfter(value, nowMs = Date.now()) {
  if (value == null || value === '') return null;
  const trimmed = String(value).trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const dateMs = Date.parse(trimmed);
  if (Number.isNaN(dateMs)) return null;
  return Math.max(0, Math.ceil((dateMs - nowMs) / 1000));
}

/** The `ApiError` kind for an HTTP error status and the body's stable `code`. */
export function kindForStatus(status, code) {
  if (status === 401 || status === 403) return 'unauthorised';
  if (status === 429) return 'throttled';
  if (status === 413 || code === 'too_large') return 'too_large';
  if (status === 400) return code === 'url_refused' ? 'url_refused' : 'invalid';
  if (status === 404) return 'not_found';
  if (status === 409 && code === 'look_not_done') return 'look_not_done';
  // A proxy or load balancer answers these while the shop itself is down or restarting.
  if (status === 502 || status === 503 || status === 504) return 'unreachable';
  if (status >= 500) return 'server';
  return 'bad_response';
}

/** Strip what a base URL must not carry (trailing slash, query, fragment). */
export function normaliseBaseUrl(baseUrl) {
  const url = new URL(baseUrl);
  url.search = '';
  url.hash = '';
  return url.href.replace(/\/+$/, '');
}

/**
 * A client bound to one shop. `fetchImpl` and `isOnline` are injectable for tests;
 * in the browser they are the global `fetch` and `navigator.onLine`.
 */
export function createShopApi({
  baseUrl,
  apiKey,
  fetchImpl = (...args) => globalThis.fetch(...args),
  isOnline = () => globalThis.navigator?.onLine !== false,
  timeoutMs = REQUEST_TIMEOUT_MS,
}) {
  const base = normaliseBaseUrl(baseUrl);

  async function send(path, { method = 'GET', body, headers = {}, authenticated = true } = {}) {
    const allHeaders = { Accept: 'application/json', ...headers };
    if (authenticated) allHeaders.Authorization = `Api-Key ${apiKey}`;
    try {
      return await fetchImpl(`${base}${path}`, {
        method,
        body,
        headers: allHeaders,
        credentials: 'omit',
        cache: 'no-store',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      // fetch rejects only when no HTTP answer came back: the device or the shop is off.
      if (!isOnline()) throw new ApiError('offline', { detail: String(error) });
      throw new ApiError('unreachable', { detail: String(error) });
    }
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  async function request(path, options) {
    const response = await send(path, options);
    const body = await readJson(response);
    if (response.ok) {
      if (body === null || typeof body !== 'object') {
        throw new ApiError('bad_response', { status: response.status });
      }
      return body;
    }
    const code = typeof body?.code === 'string' ? body.code : null;
    throw new ApiError(kindForStatus(response.status, code), {
      status: response.status,
      code,
      detail: typeof body?.detail === 'string' ? body.detail : null,
      retryAfterSeconds: parseRetryAfter(response.headers.get('Retry-After')),
    });
  }

  function lookQuery(waitSeconds) {
    return `?wait=${Math.max(0, Math.min(10, Math.round(waitSeconds)))}`;
  }

  return {
    baseUrl: base,

    /** `GET /healthz`: a 503 that still answers with a status is a degraded, reachable shop. */
    async health() {
      const response = await send('/healthz', { authenticated: false });
      const body = await readJson(response);
      if ((response.ok || response.status === 503) && typeof body?.status === 'string') {
        return { status: body.status, checks: body.checks ?? {} };
      }
      throw new ApiError(response.ok ? 'bad_response' : kindForStatus(response.status, null), {
        status: response.status,
      });
    },

    /** `GET /api/v1/client`: the API key's name and rate limit. */
    client() {
      return request('/api/v1/client');
    },

    createLookFromUrl({ imageUrl, pageUrl = null, region = null, waitSeconds = LOOK_WAIT_SECONDS }) {
      const payload = { image_url: imageUrl };
      if (pageUrl) payload.page_url = pageUrl;
      if (region) payload.region = region;
      return request(`/api/v1/looks${lookQuery(waitSeconds)}`, {
        method: 'POST',
        body: JSON.stringify(payload),
        headers: { 'Content-Type': 'application/json' },
      });
    },

    createLookFromBytes({ image, filename, pageUrl = null, region = null, waitSeconds = LOOK_WAIT_SECONDS }) {
      const form = new FormData();
      form.append('image', image, filename);
      if (pageUrl) form.append('page_url', pageUrl);
      if (region) form.append('region', JSON.stringify(region));
      // No Content-Type header: fetch writes the multipart boundary itself.
      return request(`/api/v1/looks${lookQuery(waitSeconds)}`, { method: 'POST', body: form });
    },

    getLook(lookId) {
      return request(`/api/v1/looks/${encodeURIComponent(lookId)}`);
    },

    itemProducts(lookId, itemIndex, { tags = '', k = PRODUCTS_PER_ITEM } = {}) {
      const query = new URLSearchParams();
      if (tags) query.set('tags', tags);
      query.set('k', String(k));
      const path = `/api/v1/looks/${encodeURIComponent(lookId)}/items/${Number(itemIndex)}/products`;
      return request(`${path}?${query}`);
    },

    tagValues(kind) {
      return request(`/api/v1/tags?${new URLSearchParams({ kind })}`);
    },
  };
}

/**
 * Reads the clicked photo's bytes from inside the page. Lives here because it fetches;
 * runs in the page (chrome.scripting.executeScript), so it must stay self-contained:
 * no imports, no closures. Fetches the photo with the page's cookies; where that is
 * refused (a cross-origin image without CORS), redraws the <img> the shopper clicked.
 * Returns `{dataUrl}` or `{error: <problem kind>}`.
 */
export async function readImageInPage(srcUrl, maxBytes) {
  const toDataUrl = (blob) =>
    new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  const redrawImage = () => {
    const image = [...document.images].find((img) => img.currentSrc === srcUrl || img.src === srcUrl);
    if (!image || !image.complete || !image.naturalWidth) return null;
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    canvas.getContext('2d').drawImage(image, 0, 0);
    return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
  };
  let blob = null;
  try {
    const response = await fetch(srcUrl, { credentials: 'include' });
    if (response.ok) blob = await response.blob();
  } catch {
    blob = null;
  }
  if (!blob) {
    try {
      blob = await redrawImage(); // throws SecurityError when the canvas is tainted
    } catch {
      blob = null;
    }
  }
  if (!blob) return { error: 'image_unreadable' };
  if (!blob.type.startsWith('image/')) return { error: 'not_an_image' };
  if (blob.size > maxBytes) return { error: 'too_large' };
  return { dataUrl: await toDataUrl(blob) };
}
