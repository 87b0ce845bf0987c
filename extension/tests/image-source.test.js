import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  MAX_IMAGE_BYTES,
  dataUrlToBlob,
  filenameForType,
  isPrivateHost,
  planImageSource,
} from '../src/lib/image-source.js';

describe('planImageSource', () => {
  it('sends public http(s) images by URL', () => {
    assert.equal(planImageSource('https://cdn.blog.example/photos/look.jpg?w=800'), 'url');
    assert.equal(planImageSource('http://blog.example/a.jpg'), 'url');
  });

  it('reads bytes in the page when the shop cannot fetch the address', () => {
    assert.equal(planImageSource('blob:https://blog.example/6f1c-42'), 'page');
    assert.equal(planImageSource('http://localhost:8080/a.jpg'), 'page');
    assert.equal(planImageSource('http://192.168.1.20/a.jpg'), 'page');
    assert.equal(planImageSource('https://user:secret@blog.example/a.jpg'), 'page');
    assert.equal(planImageSource('file:///home/me/a.jpg'), 'page');
    assert.equal(planImageSource('not a url'), 'page');
  });

  it('decodes data: URLs itself', () => {
    assert.equal(planImageSource('data:image/png;base64,iVBORw0KGgo='), 'data');
  });
});

describe('isPrivateHost', () => {
  it('knows loopback, LAN and intranet names', () => {
    for (const host of [
      'localhost',
      'app.localhost',
      'printer.local',
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.1.1',
      '100.64.0.1',
      '0.0.0.0',
      '[::1]',
      'fd00::1',
      'fe80::1',
      'intranet',
      'nas.home.arpa',
    ]) {
      assert.equal(isPrivateHost(host), true, host);
    }
  });

  it('leaves public names and addresses to the shop', () => {
    for (const host of [
      'blog.example',
      '8.8.8.8',
      '172.32.0.1',
      '100.128.0.1',
      '2001:db8::1',
      'images.cdn.example.com',
    ]) {
      assert.equal(isPrivateHost(host), false, host);
    }
  });
});

describe('dataUrlToBlob', () => {
  it('decodes base64 image data', async () => {
    const { blob, type } = dataUrlToBlob('data:image/png;base64,iVBORw0KGgo=');
    assert.equal(type, 'image/png');
    assert.deepEqual(
      [...new Uint8Array(await blob.arrayBuffer())],
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    );
  });

  it('decodes percent-encoded SVG', async () => {
    const { blob, type } = dataUrlToBlob('data:image/svg+xml,%3Csvg%2F%3E');
    assert.equal(type, 'image/svg+xml');
    assert.equal(await blob.text(), '<svg/>');
  });

  it('refuses what is not an image, or too large', () => {
    assert.throws(
      () => dataUrlToBlob('data:text/html,<b>hi</b>'),
      (error) => error.kind === 'not_an_image',
    );
    assert.throws(
      () => dataUrlToBlob('data:nonsense'),
      (error) => error.kind === 'image_unreadable',
    );
    const huge = `data:image/jpeg;base64,${'A'.repeat(Math.ceil((MAX_IMAGE_BYTES + 3) / 3) * 4)}`;
    assert.throws(
      () => dataUrlToBlob(huge),
      (error) => error.kind === 'too_large',
    );
  });

  it('names the upload by its type', () => {
    assert.equal(filenameForType('image/jpeg'), 'photo.jpg');
    assert.equal(filenameForType('image/webp'), 'photo.webp');
    assert.equal(filenameForType('image/x-unknown'), 'photo.img');
  });
});
