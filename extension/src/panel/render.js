/**
 * DOM builders for the panel. Server data only ever reaches the page through
 * `textContent`, attributes set one by one, and checked http(s) URLs; never as HTML.
 * Each builder takes the `document` to build in, so tests can pass a small DOM shim.
 */

import { boxToPercent } from '../lib/geometry.js';

// The detector's classes (recommender/fashion_classes.py FASHION_CLASSES), as shoppers say them.
export const CLASS_LABELS = {
  footwear: 'Shoes',
  bag: 'Bag',
  top: 'Top',
  bottom: 'Trousers or skirt',
  dress: 'Dress',
  outerwear: 'Coat or jacket',
  eyewear: 'Glasses',
  headwear: 'Hat',
  legwear: 'Tights or socks',
  accessory: 'Accessory',
};

export const IDLE_SENTENCE = 'Right-click a photo on any page and choose “Shop this look”.';
export const EMPTY_TITLE = 'No fashion items found';
export const EMPTY_SENTENCE =
  'The shop found no clothes, shoes or accessories in this photo. Use “Select a region” to draw a box around the item you want.';

/** `el(doc, "a", {className, text, attrs: {href}, dataset}, [children])` */
export function el(doc, tag, { className, text, attrs = {}, dataset = {} } = {}, children = []) {
  const node = doc.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs)) {
    if (value != null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const [name, value] of Object.entries(dataset)) node.dataset[name] = String(value);
  for (const child of children) if (child) node.append(child);
  return node;
}

/** `url` when it is an absolute http(s) URL, else null (no javascript:, data: or relative links). */
export function safeHttpUrl(url) {
  try {
    const parsed = new URL(String(url));
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : null;
  } catch {
    return null;
  }
}

export function formatPrice(price, currency, locale = undefined) {
  const amount = Number(price);
  if (price == null || price === '' || !Number.isFinite(amount)) return '';
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(amount);
  } catch {
    return currency ? `${price} ${currency}` : String(price); // unknown or missing currency code
  }
}

export function itemLabel(item) {
  if (item.source === 'region') return 'Your region';
  return CLASS_LABELS[item.class_name] ?? String(item.class_name ?? 'Item').replaceAll('_', ' ');
}

/** A product card: the whole card is one link to the shop's product page. */
export function productCard(doc, product) {
  const imageUrl = safeHttpUrl(product.image_url);
  // The card's text names the product, so its picture is decorative for screen readers.
  const image = imageUrl
    ? el(doc, 'img', { className: 'product-image', attrs: { src: imageUrl, alt: '', loading: 'lazy' } })
    : el(doc, 'span', { className: 'product-image product-image-missing', attrs: { 'aria-hidden': 'true' } });
  const details = [
    image,
    el(doc, 'span', { className: 'product-title', text: product.title ?? '' }),
    product.brand ? el(doc, 'span', { className: 'product-brand', text: product.brand }) : null,
    el(doc, 'span', { className: 'product-price', text: formatPrice(product.price, product.currency) }),
  ];
  const productUrl = safeHttpUrl(product.product_url);
  const body = productUrl
    ? el(
        doc,
        'a',
        {
          className: 'product-link',
          attrs: { href: productUrl, target: '_blank', rel: 'noopener noreferrer' },
        },
        details,
      )
    : el(doc, 'div', { className: 'product-link' }, details);
  return el(doc, 'li', { className: 'product', dataset: { productId: product.id ?? '' } }, [body]);
}

/** One button per item, placed over the photo in percentages of the original image. */
export function itemBox(doc, item, imageSize, { selected }) {
  const place = boxToPercent(item.box, imageSize);
  const label = itemLabel(item);
  const score = Number.isFinite(item.score) ? `, ${Math.round(item.score * 100)}% sure` : '';
  const button = el(
    doc,
    'button',
    {
      className: `item-box${selected ? ' item-box-selected' : ''}${item.source === 'region' ? ' item-box-region' : ''}`,
      attrs: {
        type: 'button',
        'aria-pressed': selected ? 'true' : 'false',
        'aria-label': `${label}${score}`,
      },
      dataset: { itemIndex: item.index, focusKey: `box-${item.index}` },
    },
    [el(doc, 'span', { className: 'item-box-label', text: label, attrs: { 'aria-hidden': 'true' } })],
  );
  button.style.left = `${place.left}%`;
  button.style.top = `${place.top}%`;
  button.style.width = `${place.width}%`;
  button.style.height = `${place.height}%`;
  return button;
}

/** The heading, sentence, progress and next step for idle, loading, empty and error views. */
export function statusBlock(doc, view, { nowMs = Date.now() } = {}) {
  if (view.status === 'loading') {
    return el(doc, 'div', { className: 'status status-loading', attrs: { role: 'status' } }, [
      el(doc, 'p', { className: 'status-sentence', text: view.message }),
      el(doc, 'progress', {
        attrs: { max: '100', value: String(view.progress ?? 0), 'aria-label': 'Progress' },
      }),
    ]);
  }
  if (view.status === 'empty') {
    return el(doc, 'div', { className: 'status status-empty', attrs: { role: 'status' } }, [
      el(doc, 'h2', { className: 'status-title', text: EMPTY_TITLE }),
      el(doc, 'p', { className: 'status-sentence', text: EMPTY_SENTENCE }),
    ]);
  }
  if (view.status === 'error') return errorBlock(doc, view.problem, { failedAtMs: view.at, nowMs });
  if (view.status === 'idle') {
    return el(doc, 'div', { className: 'status status-idle' }, [
      el(doc, 'h2', { className: 'status-title', text: 'Shop the look' }),
      el(doc, 'p', { className: 'status-sentence', text: IDLE_SENTENCE }),
    ]);
  }
  return null;
}

/** A problem's title and sentence, and its one action button (`data-action`: retryAction or "options"). */
export function errorBlock(
  doc,
  problem,
  { failedAtMs = null, nowMs = Date.now(), actionKey = 'status', retryAction = 'retry' } = {},
) {
  const children = [
    el(doc, 'h2', { className: 'status-title', text: problem.title }),
    el(doc, 'p', { className: 'status-sentence', text: problem.sentence }),
  ];
  if (problem.action) {
    const waitSeconds = secondsToWait(problem, failedAtMs, nowMs);
    const text = problem.action === 'options' ? 'Open options' : 'Try again';
    children.push(
      el(doc, 'button', {
        className: 'status-action',
        text: waitSeconds > 0 ? `${text} (${waitSeconds} s)` : text,
        attrs: { type: 'button', disabled: waitSeconds > 0 },
        dataset: {
          action: problem.action === 'retry' ? retryAction : problem.action,
          focusKey: `${actionKey}-action`,
          waitSeconds,
        },
      }),
    );
  }
  return el(
    doc,
    'div',
    { className: `status status-error status-${problem.kind}`, attrs: { role: 'alert' } },
    children,
  );
}

/** Seconds left before a throttled request may be retried (0 when it may be retried now). */
export function secondsToWait(problem, failedAtMs, nowMs) {
  if (problem.kind !== 'throttled' || !problem.retryAfterSeconds || failedAtMs == null) return 0;
  return Math.max(0, Math.ceil(problem.retryAfterSeconds - (nowMs - failedAtMs) / 1000));
}

/**
 * A tag chip: "Colour: Black" and a button to change it; while `editing`, a labelled
 * <select> of `values` (null while they load) replaces the button.
 */
export function tagChip(doc, chip, { editing = false, values = null, valuesError = null } = {}) {
  const children = [el(doc, 'span', { className: 'chip-kind', text: `${chip.label}:` })];
  if (!editing || !values) children.push(el(doc, 'span', { className: 'chip-value', text: chip.value }));
  if (!editing) {
    children.push(
      el(doc, 'button', {
        className: 'chip-change',
        text: 'Change',
        attrs: {
          type: 'button',
          'aria-expanded': 'false',
          'aria-label': `Change ${chip.label.toLowerCase()} (now ${chip.value})`,
        },
        dataset: { kind: chip.kind, focusKey: `chip-${chip.kind}` },
      }),
    );
  } else if (valuesError) {
    children.push(el(doc, 'span', { className: 'chip-note', text: valuesError, attrs: { role: 'alert' } }));
  } else if (!values) {
    children.push(
      el(doc, 'span', { className: 'chip-note', text: 'Loading choices…', attrs: { role: 'status' } }),
    );
  } else {
    const selectId = `chip-select-${chip.kind}`;
    const options = (values.includes(chip.value) ? values : [chip.value, ...values]).map((value) =>
      el(doc, 'option', { text: value, attrs: { value, selected: value === chip.value } }),
    );
    children.push(
      el(doc, 'label', {
        className: 'visually-hidden',
        text: `Choose a ${chip.label.toLowerCase()}`,
        attrs: { for: selectId },
      }),
      el(
        doc,
        'select',
        {
          className: 'chip-select',
          attrs: { id: selectId },
          dataset: { kind: chip.kind, focusKey: `chip-${chip.kind}` },
        },
        options,
      ),
    );
  }
  const state = `${chip.changed ? ' chip-changed' : ''}${chip.relaxed ? ' chip-relaxed' : ''}`;
  return el(doc, 'li', { className: `chip${state}`, dataset: { kind: chip.kind } }, children);
}
