import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ApiError } from '../src/lib/api.js';
import { ImageReadError } from '../src/lib/image-source.js';
import { LookTimeoutError } from '../src/lib/look-runner.js';
import {
  ProblemError,
  formatSeconds,
  problem,
  problemForError,
  problemForFailedLook,
} from '../src/lib/problems.js';

describe('problems', () => {
  it('gives each API failure a sentence and the right next step', () => {
    const expectations = {
      offline: 'retry',
      unreachable: 'retry',
      server: 'retry',
      unauthorised: 'options',
      throttled: 'retry',
      too_large: null,
      invalid: null,
      not_found: 'retry',
      bad_response: 'options',
    };
    for (const [kind, action] of Object.entries(expectations)) {
      const found = problemForError(new ApiError(kind));
      assert.equal(found.kind, kind);
      assert.equal(found.action, action, kind);
      assert.match(found.sentence, /^[A-Z].*\.$/, `${kind} is a plain sentence`);
    }
  });

  it('says how long to wait when throttled', () => {
    const found = problemForError(new ApiError('throttled', { retryAfterSeconds: 30 }));
    assert.equal(found.sentence, 'The shop is getting too many requests from you. Try again in 30 seconds.');
    assert.equal(found.retryAfterSeconds, 30);
  });

  it('explains a look that failed at the shop, by its code', () => {
    const cases = {
      fetch_failed: 'image_unreadable',
      not_an_image: 'not_an_image',
      too_large: 'too_large',
      timeout: 'timeout',
      internal: 'server',
      new_code: 'server',
    };
    for (const [code, kind] of Object.entries(cases)) {
      assert.equal(problemForFailedLook({ status: 'failed', error: { code, detail: 'x' } }).kind, kind);
    }
  });

  it("maps the extension's own errors", () => {
    assert.equal(problemForError(new ProblemError('not_configured')).action, 'options');
    assert.equal(problemForError(new ImageReadError('too_large')).kind, 'too_large');
    assert.equal(problemForError(new LookTimeoutError('L')).kind, 'timeout');
    assert.equal(problemForError(new ApiError('url_refused')).kind, 'image_unreadable');
    assert.equal(problemForError(new Error('bug')).kind, 'server');
    assert.equal(problem('no_such_kind').kind, 'server');
  });

  it('formats waiting times for people', () => {
    assert.equal(formatSeconds(1), '1 second');
    assert.equal(formatSeconds(0.2), '1 second');
    assert.equal(formatSeconds(45), '45 seconds');
    assert.equal(formatSeconds(60), '1 minute');
    assert.equal(formatSeconds(150), '3 minutes');
  });
});
