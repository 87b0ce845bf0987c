/**
 * Create a look and poll it until the shop has finished. Pure orchestration: the API
 * client, the clock and the sleep are passed in, so tests run it without a browser.
 */

export const POLL = Object.freeze({
  firstIntervalMs: 500,
  maxIntervalMs: 3000,
  backoff: 1.5,
  timeoutMs: 60_000,
  maxThrottleWaitMs: 10_000,
});

export class LookTimeoutError extends Error {
  constructor(lookId) {
    super(`look ${lookId} did not finish in time`);
    this.name = 'LookTimeoutError';
    this.lookId = lookId;
  }
}

export function isPending(look) {
  return look?.status === 'queued' || look?.status === 'running';
}

/**
 * `submit()` creates the look (POST); returns the finished look (`done` or `failed`).
 * `onProgress(status, elapsedMs)` is awaited after every answer that is still pending.
 */
export async function createAndWait({
  api,
  submit,
  onProgress = async () => {},
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now = () => Date.now(),
  poll = POLL,
}) {
  const startedMs = now();
  let look = await submit();
  let intervalMs = poll.firstIntervalMs;
  while (isPending(look)) {
    const elapsedMs = now() - startedMs;
    if (elapsedMs > poll.timeoutMs) throw new LookTimeoutError(look.id);
    await onProgress(look.status, elapsedMs);
    await sleep(intervalMs);
    intervalMs = Math.min(intervalMs * poll.backoff, poll.maxIntervalMs);
    look = await getLookPatiently(api, look, { sleep, poll });
  }
  return look;
}

/** One poll; a 429 while polling waits as long as the shop asks (capped) and asks again. */
async function getLookPatiently(api, look, { sleep, poll }) {
  try {
    return await api.getLook(look.id);
  } catch (error) {
    if (error?.kind !== 'throttled') throw error;
    const waitMs = Math.min((error.retryAfterSeconds ?? 1) * 1000, poll.maxThrottleWaitMs);
    await sleep(waitMs);
    return look; // still pending: the loop asks again
  }
}
