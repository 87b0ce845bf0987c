import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { problem } from '../src/lib/problems.js';
import {
  errorBlock,
  formatPrice,
  itemBox,
  productCard,
  safeHttpUrl,
  secondsToWait,
  statusBlock,
  tagChip,
  itemLabel,
  CLASS_LABELS,
} from '../src/panel/render.js';
import { shimDocument as doc } from './dom-shim.js';

const PRODUCT = {
  id: 12,
  sku: '1234',
  title: 'Puma Men Black Sneakers',
  brand: 'Puma',
  price: '49.99',
  currency: 'EUR',
  image_url: 'http://shop.example/media/1234.jpg',
  product_url: 'https://shop.example/p/1234',
  distance: 0.42,
};

describe('productCard', () => {
  it('links the whole card to the product page, in a new tab without opener', () => {
    const card = productCard(doc, PRODUCT);
    const link = card.find((node) => node.tagName === 'A');
    assert.equal(link.getAttribute('href'), 'https://shop.example/p/1234');
    assert.equal(link.getAttribute('target'), '_blank');
    assert.equal(link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(card.byClass('product-title').textContent, 'Puma Men Black Sneakers');
    assert.equal(card.byClass('product-brand').textContent, 'Puma');
    assert.equal(card.byClass('product-price').textContent, formatPrice('49.99', 'EUR'));
    const image = card.find((node) => node.tagName === 'IMG');
    assert.equal(image.getAttribute('src'), 'http://shop.example/media/1234.jpg');
    assert.equal(image.getAttribute('alt'), '', "the card's text already names the product");
  });

  it('keeps markup in server data as text', () => {
    const card = productCard(doc, {
      ...PRODUCT,
      title: '<img src=x onerror=alert(1)>',
      brand: '<b>Brand</b>',
    });
    assert.equal(card.byClass('product-title').textContent, '<img src=x onerror=alert(1)>');
    assert.equal(card.findAll((node) => node.tagName === 'IMG').length, 1, 'only the product photo');
  });

  it('drops links and images that are not http(s)', () => {
    const card = productCard(doc, {
      ...PRODUCT,
      product_url: 'javascript:alert(1)',
      image_url: 'data:image/png;base64,AAAA',
    });
    assert.equal(
      card.find((node) => node.tagName === 'A'),
      null,
    );
    assert.equal(
      card.find((node) => node.tagName === 'IMG'),
      null,
    );
    assert.equal(safeHttpUrl('/relative'), null);
  });
});

describe('formatPrice', () => {
  it('formats a decimal string in its currency, and survives odd data', () => {
    assert.equal(formatPrice('49.99', 'EUR', 'en-GB'), '€49.99');
    assert.equal(formatPrice('49.99', 'XX1', 'en-GB'), '49.99 XX1');
    assert.equal(formatPrice(null, 'EUR'), '');
    assert.equal(formatPrice('n/a', 'EUR'), '');
  });
});

describe('itemBox', () => {
  it('is a labelled toggle button placed in percentages', () => {
    const item = {
      index: 2,
      class_name: 'footwear',
      score: 0.87,
      box: { x: 10, y: 20, width: 100, height: 80 },
      source: 'detected',
    };
    const button = itemBox(doc, item, { width: 200, height: 400 }, { selected: true });
    assert.equal(button.tagName, 'BUTTON');
    assert.equal(button.getAttribute('aria-label'), 'Shoes, 87% sure');
    assert.equal(button.getAttribute('aria-pressed'), 'true');
    assert.equal(button.dataset.itemIndex, '2');
    assert.deepEqual(button.style, { left: '5%', top: '5%', width: '50%', height: '20%' });
  });

  it('calls a dragged region "Your region"', () => {
    const item = {
      index: 0,
      class_name: 'bag',
      score: 0.5,
      box: { x: 0, y: 0, width: 1, height: 1 },
      source: 'region',
    };
    assert.equal(
      itemBox(doc, item, { width: 2, height: 2 }, { selected: false }).getAttribute('aria-label'),
      'Your region, 50% sure',
    );
  });
});

describe('status blocks', () => {
  it('shows loading with a progress bar', () => {
    const block = statusBlock(doc, {
      status: 'loading',
      message: 'Sending the photo to the shop…',
      progress: 20,
    });
    const bar = block.find((node) => node.tagName === 'PROGRESS');
    assert.equal(bar.getAttribute('value'), '20');
    assert.equal(block.getAttribute('role'), 'status');
    assert.match(block.textContent, /Sending the photo/);
  });

  it('shows an error as an alert with its action', () => {
    const block = errorBlock(doc, problem('unauthorised'));
    assert.equal(block.getAttribute('role'), 'alert');
    const button = block.find((node) => node.tagName === 'BUTTON');
    assert.equal(button.textContent, 'Open options');
    assert.equal(button.dataset.action, 'options');
  });

  it('has no button where retrying cannot help', () => {
    assert.equal(
      errorBlock(doc, problem('too_large')).find((node) => node.tagName === 'BUTTON'),
      null,
    );
  });

  it('counts down before a throttled retry', () => {
    const throttled = problem('throttled', { retryAfterSeconds: 10 });
    const block = errorBlock(doc, throttled, { failedAtMs: 0, nowMs: 3_200 });
    const button = block.find((node) => node.tagName === 'BUTTON');
    assert.equal(button.textContent, 'Try again (7 s)');
    assert.ok(button.hasAttribute('disabled'));
    assert.equal(secondsToWait(throttled, 0, 10_000), 0);
  });

  it('names the empty state in plain words', () => {
    assert.match(statusBlock(doc, { status: 'empty' }).textContent, /^No fashion items found/);
  });
});

describe('tagChip', () => {
  const chip = { kind: 'colour', label: 'Colour', value: 'Black', changed: false, relaxed: false };

  it('offers a change button that names the tag', () => {
    const node = tagChip(doc, chip);
    const button = node.find((child) => child.tagName === 'BUTTON');
    assert.equal(button.getAttribute('aria-label'), 'Change colour (now Black)');
  });

  it('shows a labelled select while editing', () => {
    const node = tagChip(doc, chip, { editing: true, values: ['Blue', 'Red'] });
    const select = node.find((child) => child.tagName === 'SELECT');
    const label = node.find((child) => child.tagName === 'LABEL');
    assert.equal(label.getAttribute('for'), select.getAttribute('id'));
    assert.deepEqual(
      select.children.map((option) => option.textContent),
      ['Black', 'Blue', 'Red'],
    );
    assert.ok(select.children[0].hasAttribute('selected'));
  });
});

describe('itemLabel', () => {
  it('names every class the detector returns in plain words', async () => {
    const { readFile } = await import('node:fs/promises');
    const source = await readFile(
      new URL('../../recommender/fashion_classes.py', import.meta.url),
      'utf8',
    );
    const tuple = source.match(/FASHION_CLASSES[^=]*=\s*\(([^)]*)\)/)[1];
    const classes = [...tuple.matchAll(/"([a-z_]+)"/g)].map((match) => match[1]);
    assert.ok(classes.length >= 10);
    for (const name of classes) {
      const label = itemLabel({ class_name: name, source: 'detected' });
      assert.equal(label, CLASS_LABELS[name], name);
      assert.match(label, /^[A-Z]/, name);
    }
  });
});
