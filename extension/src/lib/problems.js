/**
 * What went wrong, in words a shopper understands: each failure becomes a "problem"
 * `{kind, title, sentence, action, retryAfterSeconds}`, where `action` is the one thing
 * the panel offers next: "retry", "options" (fix the settings) or null (nothing to retry).
 */

const PROBLEMS = {
  offline: {
    title: "You're offline",
    sentence: "Your device isn't connected to the internet. Check your connection, then try again.",
    action: 'retry',
  },
  unreachable: {
    title: "The shop can't be reached",
    sentence: "The shop isn't answering right now. Try again in a moment.",
    action: 'retry',
  },
  server: {
    title: 'Something went wrong at the shop',
    sentence: 'The shop ran into a problem with this photo. Try again in a moment.',
    action: 'retry',
  },
  unauthorised: {
    title: 'The shop refused the API key',
    sentence: "The shop didn't accept the extension's API key. Check the key in the options.",
    action: 'options',
  },
  throttled: {
    title: 'Too many requests',
    sentence: 'The shop is getting too many requests from you. Try again in a little while.',
    action: 'retry',
  },
  too_large: {
    title: 'Photo too large',
    sentence: 'This photo is too large for the shop to look at. Try a smaller photo.',
    action: null,
  },
  invalid: {
    title: "The shop couldn't use this photo",
    sentence: "The shop couldn't use this photo. Try another one.",
    action: null,
  },
  not_an_image: {
    title: 'Not a photo',
    sentence: "This doesn't seem to be a photo the shop can read. Try another one.",
    action: null,
  },
  image_unreadable: {
    title: "The photo couldn't be read",
    sentence:
      'Neither the shop nor the extension could download this photo. Open it in its own tab and try again there.',
    action: null,
  },
  not_found: {
    title: 'Look expired',
    sentence: 'The shop no longer has this look. Try the photo again.',
    action: 'retry',
  },
  timeout: {
    title: 'Taking too long',
    sentence: 'The shop is taking too long to look at this photo. Try again in a moment.',
    action: 'retry',
  },
  bad_response: {
    title: "That isn't a ShopALook shop",
    sentence:
      "The shop address in the options doesn't answer like a ShopALook shop. Check it in the options.",
    action: 'options',
  },
  not_configured: {
    title: 'Set up the extension',
    sentence: "Enter your shop's address and API key in the options first.",
    action: 'options',
  },
  no_permission: {
    title: 'Permission needed',
    sentence:
      'The extension needs your permission to reach the shop. Open the options and save them to allow it.',
    action: 'options',
  },
};

/** A failure that already is a problem kind (not configured, no permission, ...). */
export class ProblemError extends Error {
  constructor(kind, detail = '') {
    super(detail || kind);
    this.name = 'ProblemError';
    this.kind = kind;
  }
}

// Failure codes of a Look (`look.error.code`) that mean the shop could not get the photo:
// the extension then reads the bytes from the page itself and sends those.
export const FETCH_FAILURE_CODES = new Set(['fetch_refused', 'fetch_failed', 'not_an_image']);

const LOOK_FAILURE_KINDS = {
  fetch_refused: 'image_unreadable',
  fetch_failed: 'image_unreadable',
  not_an_image: 'not_an_image',
  too_large: 'too_large',
  timeout: 'timeout',
  internal: 'server',
};

/** The problem of `kind`; unknown kinds read as a shop-side problem. */
export function problem(kind, { retryAfterSeconds = null } = {}) {
  const known = PROBLEMS[kind] ? kind : 'server';
  const entry = PROBLEMS[known];
  let sentence = entry.sentence;
  if (known === 'throttled' && retryAfterSeconds != null) {
    sentence = `The shop is getting too many requests from you. Try again in ${formatSeconds(retryAfterSeconds)}.`;
  }
  return { kind: known, title: entry.title, sentence, action: entry.action, retryAfterSeconds };
}

/** The problem for anything thrown while making a look (ApiError or otherwise). */
export function problemForError(error) {
  if (error?.name === 'ApiError') {
    if (error.kind === 'url_refused') return problem('image_unreadable');
    if (error.kind === 'look_not_done') return problem('timeout');
    return problem(error.kind, { retryAfterSeconds: error.retryAfterSeconds });
  }
  if (error?.name === 'LookTimeoutError') return problem('timeout');
  if (error?.name === 'ProblemError' || error?.name === 'ImageReadError') return problem(error.kind);
  return problem('server');
}

/** The problem for a Look that finished with `status: "failed"`. */
export function problemForFailedLook(look) {
  return problem(LOOK_FAILURE_KINDS[look?.error?.code] ?? 'server');
}

export function formatSeconds(seconds) {
  const whole = Math.max(1, Math.ceil(seconds));
  if (whole < 60) return whole === 1 ? '1 second' : `${whole} seconds`;
  const minutes = Math.ceil(whole / 60);
  return minutes === 1 ? '1 minute' : `${minutes} minutes`;
}
