import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  boxToPercent,
  centredRect,
  displayedToOriginal,
  isUsableRegion,
  nudgeRect,
  rectFromPoints,
} from '../src/lib/geometry.js';

const ORIGINAL = { width: 1200, height: 1600 };
const DISPLAYED = { width: 300, height: 400 }; // the photo shown at a quarter of its size

describe('displayedToOriginal', () => {
  it('scales a dragged rectangle up to original pixels', () => {
    assert.deepEqual(displayedToOriginal({ x: 10, y: 20, width: 50, height: 60 }, DISPLAYED, ORIGINAL), {
      x: 40,
      y: 80,
      width: 200,
      height: 240,
    });
  });

  it("rounds edges outwards so the shopper's box is never cut", () => {
    const region = displayedToOriginal(
      { x: 10.4, y: 0.6, width: 20.2, height: 10.1 },
      { width: 300, height: 300 },
      { width: 1000, height: 1000 },
    );
    assert.deepEqual(region, { x: 34, y: 2, width: 68, height: 34 });
    for (const value of Object.values(region)) assert.ok(Number.isInteger(value));
  });

  it('stays inside the original image', () => {
    const region = displayedToOriginal({ x: 250, y: 350, width: 80, height: 80 }, DISPLAYED, ORIGINAL);
    assert.deepEqual(region, { x: 1000, y: 1400, width: 200, height: 200 });
  });

  it('scales each axis on its own (a photo squeezed by CSS)', () => {
    const region = displayedToOriginal(
      { x: 0, y: 0, width: 100, height: 100 },
      { width: 200, height: 100 },
      { width: 400, height: 400 },
    );
    assert.deepEqual(region, { x: 0, y: 0, width: 200, height: 400 });
  });

  it('never returns an empty region', () => {
    const region = displayedToOriginal({ x: 299.9, y: 0, width: 0, height: 0 }, DISPLAYED, ORIGINAL);
    assert.ok(region.width >= 1 && region.height >= 1);
    assert.ok(region.x + region.width <= ORIGINAL.width);
  });
});

describe('rectFromPoints', () => {
  it('normalises a drag up and to the left', () => {
    assert.deepEqual(rectFromPoints({ x: 100, y: 90 }, { x: 40, y: 30 }, DISPLAYED), {
      x: 40,
      y: 30,
      width: 60,
      height: 60,
    });
  });

  it('clips a drag that leaves the photo', () => {
    assert.deepEqual(rectFromPoints({ x: 250, y: 350 }, { x: 400, y: -20 }, DISPLAYED), {
      x: 250,
      y: 0,
      width: 50,
      height: 350,
    });
  });

  it('treats a tiny drag as a click', () => {
    assert.equal(isUsableRegion({ x: 0, y: 0, width: 5, height: 40 }), false);
    assert.equal(isUsableRegion({ x: 0, y: 0, width: 12, height: 12 }), true);
  });
});

describe('boxToPercent', () => {
  it('places a box in percentages of the original image', () => {
    assert.deepEqual(boxToPercent({ x: 10, y: 20, width: 100, height: 80 }, { width: 200, height: 400 }), {
      left: 5,
      top: 5,
      width: 50,
      height: 20,
    });
  });

  it('clips a box that sticks out of the image', () => {
    assert.deepEqual(boxToPercent({ x: -10, y: 380, width: 50, height: 50 }, { width: 200, height: 400 }), {
      left: 0,
      top: 95,
      width: 20,
      height: 5,
    });
  });
});

describe('keyboard region', () => {
  it('starts from the middle half and moves or resizes within the photo', () => {
    const start = centredRect(DISPLAYED);
    assert.deepEqual(start, { x: 75, y: 100, width: 150, height: 200 });
    assert.deepEqual(nudgeRect(start, 'ArrowLeft', {}, DISPLAYED), {
      x: 65,
      y: 100,
      width: 150,
      height: 200,
    });
    assert.deepEqual(nudgeRect(start, 'ArrowDown', { resize: true }, DISPLAYED), {
      x: 75,
      y: 100,
      width: 150,
      height: 210,
    });
    const atEdge = nudgeRect({ x: 145, y: 0, width: 150, height: 20 }, 'ArrowRight', {}, DISPLAYED);
    assert.equal(atEdge.x, 150);
    assert.equal(nudgeRect(start, 'a', {}, DISPLAYED), start);
  });
});
