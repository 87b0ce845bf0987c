import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ApiError } from '../src/lib/api.js';
import { LookTimeoutError, POLL, createAndWait } from '../src/lib/look-runner.js';

/** A fake clock: sleep() advances it instantly and records how long each wait was. */
function fakeClock() {
  let nowMs = 0;
  const sleeps = [];
  return {
    sleeps,
    now: () => nowMs,
    sleep: async (ms) => {
      sleeps.push(ms);
      nowMs += ms;
    },
  };
}

function apiAnswering(...answers) {
  const asked = [];
  return {
    asked,
    getLook: async (id) => {
      asked.push(id);
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next;
    },
  };
}

describe('createAndWait', () => {
  it('returns at once when the POST already finished the look', async () => {
    const api = apiAnswering();
    const clock = fakeClock();
    const look = await createAndWait({
      api,
      submit: async () => ({ id: 'L', status: 'done', items: [] }),
      ...clock,
    });
    assert.equal(look.status, 'done');
    assert.deepEqual(api.asked, []);
  });

  it('polls with backoff and reports each pending status', async () => {
    const api = apiAnswering(
      { id: 'L', status: 'running' },
      { id: 'L', status: 'running' },
      { id: 'L', status: 'done', items: [1] },
    );
    const clock = fakeClock();
    const progress = [];
    const look = await createAndWait({
      api,
      submit: async () => ({ id: 'L', status: 'queued' }),
      onProgress: async (status) => progress.push(status),
      ...clock,
    });
    assert.deepEqual(look.items, [1]);
    assert.deepEqual(progress, ['queued', 'running', 'running']);
    assert.deepEqual(clock.sleeps, [500, 750, 1125]);
  });

  it('never waits longer than the maximum interval', async () => {
    const pending = Array.from({ length: 12 }, () => ({ id: 'L', status: 'running' }));
    const api = apiAnswering(...pending, { id: 'L', status: 'done' });
    const clock = fakeClock();
    await createAndWait({ api, submit: async () => ({ id: 'L', status: 'queued' }), ...clock });
    assert.equal(Math.max(...clock.sleeps), POLL.maxIntervalMs);
  });

  it('gives up after the timeout', async () => {
    const api = { getLook: async () => ({ id: 'L', status: 'running' }) };
    const clock = fakeClock();
    await assert.rejects(
      createAndWait({ api, submit: async () => ({ id: 'L', status: 'queued' }), ...clock }),
      LookTimeoutError,
    );
    assert.ok(clock.now() > POLL.timeoutMs && clock.now() < POLL.timeoutMs + 2 * POLL.maxIntervalMs);
  });

  it('waits as long as the shop asks when a poll is throttled', async () => {
    const api = apiAnswering(new ApiError('throttled', { retryAfterSeconds: 4 }), {
      id: 'L',
      status: 'done',
    });
    const clock = fakeClock();
    const look = await createAndWait({ api, submit: async () => ({ id: 'L', status: 'queued' }), ...clock });
    assert.equal(look.status, 'done');
    assert.deepEqual(clock.sleeps, [500, 4000, 750]);
  });

  it('passes other poll errors on', async () => {
    const api = apiAnswering(new ApiError('unauthorised'));
    await assert.rejects(
      createAndWait({ api, submit: async () => ({ id: 'L', status: 'queued' }), ...fakeClock() }),
      (error) => error.kind === 'unauthorised',
    );
  });

  it('returns a failed look for the caller to explain', async () => {
    const failed = { id: 'L', status: 'failed', error: { code: 'fetch_failed', detail: 'x' } };
    const look = await createAndWait({
      api: apiAnswering(failed),
      submit: async () => ({ id: 'L', status: 'queued' }),
      ...fakeClock(),
    });
    assert.equal(look.error.code, 'fetch_failed');
  });
});
