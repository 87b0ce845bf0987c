/**
 * Boxes and regions. The shop speaks original-image pixels; the panel shows the photo
 * scaled. Boxes are placed in percentages of the photo (so they follow any resize), and a
 * rectangle dragged in displayed pixels is converted back to original pixels.
 */

// A drag smaller than this (displayed pixels, either side) is a click, not a region.
export const MIN_REGION_DISPLAY_PX = 12;

const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
// Scaling by a ratio like 10/3 leaves float noise (30.6 * 10 / 3 = 102.00000000000001):
// round outwards only past it, or a region would grow by a pixel for nothing.
const EPSILON = 1e-6;
const floorOut = (value) => Math.floor(value + EPSILON);
const ceilOut = (value) => Math.ceil(value - EPSILON);

/** CSS percentages `{left, top, width, height}` of a box over an image of `imageSize`. */
export function boxToPercent(box, imageSize) {
  const left = clamp(box.x, 0, imageSize.width);
  const top = clamp(box.y, 0, imageSize.height);
  const right = clamp(box.x + box.width, 0, imageSize.width);
  const bottom = clamp(box.y + box.height, 0, imageSize.height);
  const percent = (value, total) => Math.round((value / total) * 100_000) / 1000;
  return {
    left: percent(left, imageSize.width),
    top: percent(top, imageSize.height),
    width: percent(right - left, imageSize.width),
    height: percent(bottom - top, imageSize.height),
  };
}

/** The rectangle between two pointer positions, whichever way the drag went, inside `bounds`. */
export function rectFromPoints(start, end, bounds) {
  const x1 = clamp(Math.min(start.x, end.x), 0, bounds.width);
  const y1 = clamp(Math.min(start.y, end.y), 0, bounds.height);
  const x2 = clamp(Math.max(start.x, end.x), 0, bounds.width);
  const y2 = clamp(Math.max(start.y, end.y), 0, bounds.height);
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
}

export function isUsableRegion(displayedRect) {
  return displayedRect.width >= MIN_REGION_DISPLAY_PX && displayedRect.height >= MIN_REGION_DISPLAY_PX;
}

/**
 * A rectangle in displayed pixels -> integer original-image pixels. Edges round outwards
 * (the shopper's box is never cut), and the result stays inside the original image.
 */
export function displayedToOriginal(rect, displayedSize, originalSize) {
  const scaleX = originalSize.width / displayedSize.width;
  const scaleY = originalSize.height / displayedSize.height;
  const x1 = clamp(floorOut(rect.x * scaleX), 0, originalSize.width - 1);
  const y1 = clamp(floorOut(rect.y * scaleY), 0, originalSize.height - 1);
  const x2 = clamp(ceilOut((rect.x + rect.width) * scaleX), x1 + 1, originalSize.width);
  const y2 = clamp(ceilOut((rect.y + rect.height) * scaleY), y1 + 1, originalSize.height);
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
}

/** Move or resize a displayed rectangle by a key press (keyboard region selection). */
export function nudgeRect(rect, key, { resize = false, step = 10 }, bounds) {
  const delta = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[
    key
  ];
  if (!delta) return rect;
  const [dx, dy] = delta;
  if (resize) {
    const width = clamp(rect.width + dx, MIN_REGION_DISPLAY_PX, bounds.width - rect.x);
    const height = clamp(rect.height + dy, MIN_REGION_DISPLAY_PX, bounds.height - rect.y);
    return { ...rect, width, height };
  }
  return {
    ...rect,
    x: clamp(rect.x + dx, 0, bounds.width - rect.width),
    y: clamp(rect.y + dy, 0, bounds.height - rect.height),
  };
}

/** The rectangle a keyboard user starts from: the middle half of the photo. */
export function centredRect(bounds) {
  return { x: bounds.width / 4, y: bounds.height / 4, width: bounds.width / 2, height: bounds.height / 2 };
}
