import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { buildTagQuery, chipsForItem, formatTag, kindLabel, parseTag } from '../src/lib/tags.js';

const ITEM = {
  index: 0,
  tags: [
    { kind: 'colour', value: 'Black', probability: 0.66 },
    { kind: 'article_type', value: 'Casual Shoes', probability: 0.91 },
    { kind: 'colour', value: 'Grey', probability: 0.2 },
    { kind: 'usage', value: 'Casual', probability: 0.5 },
  ],
  tags_used: ['article_type:Casual Shoes'],
  tags_relaxed: [],
};

describe('buildTagQuery', () => {
  it("keeps the tags the shop used and adds the shopper's colour", () => {
    assert.equal(
      buildTagQuery(['article_type:Casual Shoes'], { colour: 'Blue' }),
      'article_type:Casual Shoes,colour:Blue',
    );
  });

  it('replaces a kind the shop used', () => {
    assert.equal(
      buildTagQuery(['article_type:Casual Shoes', 'colour:Black'], { colour: 'Blue' }),
      'article_type:Casual Shoes,colour:Blue',
    );
  });

  it('drops a kind set to nothing', () => {
    assert.equal(
      buildTagQuery(['article_type:Casual Shoes', 'colour:Black'], { colour: null }),
      'article_type:Casual Shoes',
    );
  });

  it('is empty without tags', () => {
    assert.equal(buildTagQuery([], {}), '');
    assert.equal(buildTagQuery(undefined), '');
  });

  it('keeps colons inside values and never lets a comma split a tag', () => {
    assert.deepEqual(parseTag('article_type:Shoes: Casual'), {
      kind: 'article_type',
      value: 'Shoes: Casual',
    });
    assert.equal(formatTag({ kind: 'colour', value: 'Blue, Navy' }), 'colour:Blue  Navy');
    assert.equal(parseTag('nocolon'), null);
  });
});

describe('chipsForItem', () => {
  it('shows the most probable value of each kind, type and colour first', () => {
    const chips = chipsForItem(ITEM);
    assert.deepEqual(
      chips.map((chip) => [chip.kind, chip.value, chip.used]),
      [
        ['article_type', 'Casual Shoes', true],
        ['colour', 'Black', false],
        ['usage', 'Casual', false],
      ],
    );
  });

  it("shows the shopper's change and what the shop relaxed", () => {
    const chips = chipsForItem(ITEM, {
      overrides: { colour: 'Blue' },
      tagsUsed: ['article_type:Casual Shoes'],
      tagsRelaxed: ['colour:Blue'],
    });
    const colour = chips.find((chip) => chip.kind === 'colour');
    assert.equal(colour.value, 'Blue');
    assert.equal(colour.predicted, 'Black');
    assert.equal(colour.changed, true);
    assert.equal(colour.relaxed, true);
  });

  it('names kinds for people', () => {
    assert.equal(kindLabel('article_type'), 'Type');
    assert.equal(kindLabel('colour'), 'Colour');
    assert.equal(kindLabel('sleeve_length'), 'Sleeve length');
  });
});
