/**
 * The panel's state machine. The service worker feeds it events and stores the result in
 * `chrome.storage.session`; the panel only renders what is stored.
 *
 *   idle ──start──> loading ──finished──> results | empty | error
 *                     │  ^                   │
 *                     │  └──progress         └──start (retry, region)──> loading
 *                     └──failed──> error
 *
 * Every event carries the `runId` of the shopper's click; events of an older run are
 * ignored, so a slow earlier look never overwrites a newer one.
 */

import { problemForFailedLook } from './problems.js';

export const IDLE_VIEW = Object.freeze({ status: 'idle', runId: null });

export const LOADING_MESSAGES = Object.freeze({
  reading: 'Reading the photo from the page…',
  sending: 'Sending the photo to the shop…',
  queued: 'Waiting for the shop to start…',
  running: 'Finding the fashion items in the photo…',
});

// Progress is estimated by phase: the shop reports no percentage while it works.
const PHASE_PROGRESS = { reading: [5, 15], sending: [15, 30], queued: [30, 45], running: [45, 95] };
const RUNNING_EXPECTED_MS = 8000;

/** Percent complete for a loading phase; "running" creeps up with time and never reaches 100. */
export function progressFor(phase, elapsedMs = 0) {
  const [start, end] = PHASE_PROGRESS[phase] ?? [0, 5];
  if (phase !== 'running') return start;
  const fraction = 1 - Math.exp(-Math.max(0, elapsedMs) / RUNNING_EXPECTED_MS);
  return Math.round(start + (end - start) * fraction);
}

function loading(runId, phase, elapsedMs, at) {
  return {
    status: 'loading',
    runId,
    phase,
    progress: progressFor(phase, elapsedMs),
    message: LOADING_MESSAGES[phase] ?? LOADING_MESSAGES.sending,
    at: at ?? null,
  };
}

// The worker reports progress at least every few seconds while it polls; silence this long
// means the browser stopped it (or the browser restarted) and the look will not finish.
export const STALE_LOADING_MS = 90_000;

/** True when a loading view has had no news for too long to still be running. */
export function isStale(view, nowMs) {
  return view.status === 'loading' && view.at != null && nowMs - view.at > STALE_LOADING_MS;
}

/** A Look the shop finished: results, nothing found, or the shop's failure as a problem. */
function finished(runId, look) {
  if (look.status === 'failed') return { status: 'error', runId, problem: problemForFailedLook(look) };
  if (!look.items?.length) return { status: 'empty', runId, look };
  return { status: 'results', runId, look };
}

/** The next view for `event`; returns `view` itself when the event does not apply. */
export function reduceView(view, event) {
  const current = view ?? IDLE_VIEW;
  if (event.type === 'start') return loading(event.runId, event.phase ?? 'sending', 0, event.at);
  if (event.runId !== current.runId || current.status !== 'loading') return current;
  switch (event.type) {
    case 'progress':
      return loading(event.runId, event.phase, event.elapsedMs ?? 0, event.at);
    case 'finished':
      return finished(event.runId, event.look);
    case 'failed':
      return { status: 'error', runId: event.runId, problem: event.problem, at: event.at ?? null };
    default:
      return current;
  }
}
