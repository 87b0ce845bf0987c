import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { problem } from '../src/lib/problems.js';
import {
  IDLE_VIEW,
  LOADING_MESSAGES,
  STALE_LOADING_MS,
  isStale,
  progressFor,
  reduceView,
} from '../src/lib/view-state.js';

const LOOK = { id: 'L', status: 'done', image: { width: 10, height: 10 }, items: [{ index: 0 }] };

describe('reduceView', () => {
  it('goes idle -> loading -> results', () => {
    let view = reduceView(IDLE_VIEW, { type: 'start', runId: 'r1', phase: 'sending' });
    assert.equal(view.status, 'loading');
    assert.equal(view.message, LOADING_MESSAGES.sending);
    view = reduceView(view, { type: 'progress', runId: 'r1', phase: 'running', elapsedMs: 1000 });
    assert.equal(view.message, LOADING_MESSAGES.running);
    view = reduceView(view, { type: 'finished', runId: 'r1', look: LOOK });
    assert.deepEqual(view, { status: 'results', runId: 'r1', look: LOOK });
  });

  it('says empty when the shop found no item', () => {
    const loading = reduceView(IDLE_VIEW, { type: 'start', runId: 'r1' });
    const view = reduceView(loading, { type: 'finished', runId: 'r1', look: { ...LOOK, items: [] } });
    assert.equal(view.status, 'empty');
  });

  it('turns a failed look into its problem', () => {
    const loading = reduceView(IDLE_VIEW, { type: 'start', runId: 'r1' });
    const failed = { ...LOOK, status: 'failed', items: [], error: { code: 'timeout', detail: 'slow' } };
    const view = reduceView(loading, { type: 'finished', runId: 'r1', look: failed });
    assert.equal(view.status, 'error');
    assert.equal(view.problem.kind, 'timeout');
  });

  it('records when an error happened (for the throttled countdown)', () => {
    const loading = reduceView(IDLE_VIEW, { type: 'start', runId: 'r1' });
    const view = reduceView(loading, {
      type: 'failed',
      runId: 'r1',
      problem: problem('throttled', { retryAfterSeconds: 5 }),
      at: 1234,
    });
    assert.equal(view.at, 1234);
  });

  it('ignores events of an older run', () => {
    const first = reduceView(IDLE_VIEW, { type: 'start', runId: 'old' });
    const second = reduceView(first, { type: 'start', runId: 'new' });
    assert.equal(reduceView(second, { type: 'finished', runId: 'old', look: LOOK }), second);
    assert.equal(reduceView(second, { type: 'progress', runId: 'old', phase: 'running' }), second);
  });

  it('ignores progress once the run has finished', () => {
    const loading = reduceView(IDLE_VIEW, { type: 'start', runId: 'r1' });
    const done = reduceView(loading, { type: 'finished', runId: 'r1', look: LOOK });
    assert.equal(reduceView(done, { type: 'progress', runId: 'r1', phase: 'running' }), done);
  });
});

describe('progressFor', () => {
  it('moves forward through the phases and never reaches 100 while running', () => {
    const steps = [
      progressFor('reading'),
      progressFor('sending'),
      progressFor('queued'),
      progressFor('running', 0),
    ];
    assert.deepEqual(
      [...steps].sort((a, b) => a - b),
      steps,
    );
    assert.ok(progressFor('running', 4000) > progressFor('running', 1000));
    assert.ok(progressFor('running', 600_000) < 100);
  });
});

describe('isStale', () => {
  it('notices a loading view the worker stopped updating', () => {
    const view = reduceView(IDLE_VIEW, { type: 'start', runId: 'r1', at: 1000 });
    assert.equal(isStale(view, 1000 + STALE_LOADING_MS - 1), false);
    assert.equal(isStale(view, 1000 + STALE_LOADING_MS + 1), true);
    const later = reduceView(view, { type: 'progress', runId: 'r1', phase: 'running', at: 50_000 });
    assert.equal(isStale(later, 1000 + STALE_LOADING_MS + 1), false);
    const done = reduceView(later, { type: 'finished', runId: 'r1', look: LOOK });
    assert.equal(isStale(done, Number.MAX_SAFE_INTEGER), false);
  });
});
