import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ApiError, createShopApi, kindForStatus, normaliseBaseUrl, parseRetryAfter } from '../src/lib/api.js';

/** A fetch that records its calls and answers with `respond(url, init)` -> Response. */
function fakeFetch(respond) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    calls.push({ url, init });
    return respond(url, init);
  };
  return { calls, fetchImpl };
}

const json = (status, body, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });

function api(respond, options = {}) {
  const fake = fakeFetch(respond);
  const client = createShopApi({
    baseUrl: 'https://shop.example/',
    apiKey: 'k-123',
    fetchImpl: fake.fetchImpl,
    ...options,
  });
  return { client, calls: fake.calls };
}

async function errorOf(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected a rejection');
}

describe('error mapping', () => {
  const cases = [
    [
      401,
      { detail: 'Authentication credentials were not provided.', code: 'not_authenticated' },
      'unauthorised',
    ],
    [401, { detail: 'Invalid API key.', code: 'authentication_failed' }, 'unauthorised'],
    [403, { detail: 'no', code: 'permission_denied' }, 'unauthorised'],
    [413, { detail: 'too big', code: 'too_large' }, 'too_large'],
    [400, { detail: 'private address', code: 'url_refused' }, 'url_refused'],
    [400, { detail: 'invalid input', code: 'invalid', errors: { image_url: ['bad'] } }, 'invalid'],
    [404, { detail: 'Not found.', code: 'not_found' }, 'not_found'],
    [409, { detail: 'not yet', code: 'look_not_done' }, 'look_not_done'],
    [500, { detail: 'A server error occurred.', code: 'error' }, 'server'],
    [502, { detail: 'bad gateway', code: 'error' }, 'unreachable'],
    [503, { detail: 'unavailable', code: 'error' }, 'unreachable'],
  ];
  for (const [status, body, kind] of cases) {
    it(`maps ${status} ${body.code} to ${kind}`, async () => {
      const { client } = api(() => json(status, body));
      const error = await errorOf(client.getLook('abc'));
      assert.ok(error instanceof ApiError);
      assert.equal(error.kind, kind);
      assert.equal(error.status, status);
      assert.equal(error.code, body.code);
      assert.equal(error.detail, body.detail);
    });
  }

  it('reads Retry-After on 429', async () => {
    const { client } = api(() =>
      json(429, { detail: 'slow down', code: 'throttled' }, { 'Retry-After': '17' }),
    );
    const error = await errorOf(client.createLookFromUrl({ imageUrl: 'https://blog.example/a.jpg' }));
    assert.equal(error.kind, 'throttled');
    assert.equal(error.retryAfterSeconds, 17);
  });

  it('says offline when fetch fails and the device is offline', async () => {
    const { client } = api(
      () => {
        throw new TypeError('Failed to fetch');
      },
      { isOnline: () => false },
    );
    assert.equal((await errorOf(client.client())).kind, 'offline');
  });

  it('says unreachable when fetch fails while online', async () => {
    const { client } = api(
      () => {
        throw new TypeError('Failed to fetch');
      },
      { isOnline: () => true },
    );
    assert.equal((await errorOf(client.client())).kind, 'unreachable');
  });

  it('says unreachable for an HTML error page from a proxy', async () => {
    const { client } = api(
      () => new Response('<h1>Bad gateway</h1>', { status: 502, headers: { 'Content-Type': 'text/html' } }),
    );
    const error = await errorOf(client.client());
    assert.equal(error.kind, 'unreachable');
    assert.equal(error.code, null);
  });

  it('says bad_response when a 200 is not JSON (the address is not a shop)', async () => {
    const { client } = api(() => new Response('<html>blog</html>', { status: 200 }));
    assert.equal((await errorOf(client.client())).kind, 'bad_response');
  });

  it('kindForStatus falls back to bad_response for unexpected statuses', () => {
    assert.equal(kindForStatus(418, null), 'bad_response');
  });
});

describe('requests', () => {
  it('sends the API key on API calls but not on /healthz', async () => {
    const { client, calls } = api((url) =>
      url.endsWith('/healthz')
        ? json(200, { status: 'ok', checks: {} })
        : json(200, { name: 'n', rate: '60/min' }),
    );
    await client.health();
    await client.client();
    assert.equal(calls[0].url, 'https://shop.example/healthz');
    assert.equal(calls[0].init.headers.Authorization, undefined);
    assert.equal(calls[1].url, 'https://shop.example/api/v1/client');
    assert.equal(calls[1].init.headers.Authorization, 'Api-Key k-123');
    assert.equal(calls[1].init.credentials, 'omit');
  });

  it('treats a 503 health answer with a status as a reachable, degraded shop', async () => {
    const { client } = api(() => json(503, { status: 'degraded', checks: { redis: 'down' } }));
    assert.deepEqual(await client.health(), { status: 'degraded', checks: { redis: 'down' } });
  });

  it('posts JSON for an image URL, with page and region', async () => {
    const look = { id: 'L1', status: 'queued' };
    const { client, calls } = api(() => json(202, look, { Location: '/api/v1/looks/L1' }));
    const region = { x: 1, y: 2, width: 30, height: 40 };
    const answer = await client.createLookFromUrl({
      imageUrl: 'https://blog.example/a.jpg',
      pageUrl: 'https://blog.example/post',
      region,
      waitSeconds: 3,
    });
    assert.deepEqual(answer, look);
    assert.equal(calls[0].url, 'https://shop.example/api/v1/looks?wait=3');
    assert.equal(calls[0].init.method, 'POST');
    assert.equal(calls[0].init.headers['Content-Type'], 'application/json');
    assert.deepEqual(JSON.parse(calls[0].init.body), {
      image_url: 'https://blog.example/a.jpg',
      page_url: 'https://blog.example/post',
      region,
    });
  });

  it('clamps wait to the 0..10 seconds the API accepts', async () => {
    const { client, calls } = api(() => json(202, { id: 'L', status: 'queued' }));
    await client.createLookFromUrl({ imageUrl: 'https://blog.example/a.jpg', waitSeconds: 60 });
    assert.ok(calls[0].url.endsWith('?wait=10'));
  });

  it('posts multipart for bytes, the region as a JSON string', async () => {
    const { client, calls } = api(() => json(200, { id: 'L', status: 'done', items: [] }));
    const image = new Blob([new Uint8Array([0xff, 0xd8, 0xff])], { type: 'image/jpeg' });
    await client.createLookFromBytes({
      image,
      filename: 'photo.jpg',
      pageUrl: 'https://blog.example/post',
      region: { x: 0, y: 0, width: 5, height: 5 },
    });
    const form = calls[0].init.body;
    assert.ok(form instanceof FormData);
    assert.equal(form.get('image').name, 'photo.jpg');
    assert.equal(form.get('image').type, 'image/jpeg');
    assert.equal(form.get('page_url'), 'https://blog.example/post');
    assert.deepEqual(JSON.parse(form.get('region')), { x: 0, y: 0, width: 5, height: 5 });
    assert.equal(calls[0].init.headers['Content-Type'], undefined, 'fetch sets the multipart boundary');
  });

  it("asks for an item's products with the tags query and k", async () => {
    const { client, calls } = api(() =>
      json(200, { item: 0, tags_used: [], tags_relaxed: [], products: [] }),
    );
    await client.itemProducts('L 1', 2, { tags: 'colour:Blue,article_type:Casual Shoes' });
    const url = new URL(calls[0].url);
    assert.equal(url.pathname, '/api/v1/looks/L%201/items/2/products');
    assert.equal(url.searchParams.get('tags'), 'colour:Blue,article_type:Casual Shoes');
    assert.equal(url.searchParams.get('k'), '12');
  });

  it('asks for tag values by kind', async () => {
    const { client, calls } = api(() => json(200, { kind: 'colour', values: ['Black'] }));
    assert.deepEqual(await client.tagValues('colour'), { kind: 'colour', values: ['Black'] });
    assert.equal(calls[0].url, 'https://shop.example/api/v1/tags?kind=colour');
  });

  it('keeps a base path and drops a trailing slash, query and fragment', () => {
    assert.equal(
      normaliseBaseUrl('https://shop.example/shopalook/?x=1#top'),
      'https://shop.example/shopalook',
    );
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('30'), 30);
    assert.equal(parseRetryAfter(null), null);
    assert.equal(parseRetryAfter('soon'), null);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:45 GMT', now), 45);
  });
});
