/**
 * The side panel (and in-page overlay): renders the current look kept in
 * `chrome.storage.session` and turns the shopper's clicks into messages to the service
 * worker. The only state kept here is UI state (region being dragged, chip being edited).
 */

import {
  centredRect,
  displayedToOriginal,
  isUsableRegion,
  nudgeRect,
  rectFromPoints,
} from '../lib/geometry.js';
import { problem, problemForError } from '../lib/problems.js';
import { ITEM_QUERY_PREFIX, KEYS } from '../lib/session.js';
import { chipsForItem, kindLabel, parseTag } from '../lib/tags.js';
import { IDLE_VIEW, isStale } from '../lib/view-state.js';
import {
  errorBlock,
  itemBox,
  itemLabel,
  productCard,
  secondsToWait,
  statusBlock,
  tagChip,
} from './render.js';

const $ = (id) => document.getElementById(id);
const stored = {}; // a read-only mirror of chrome.storage.session, kept fresh by onChanged
const ui = {
  regionMode: false,
  regionRect: null,
  dragStart: null,
  editingKind: null,
  tagValues: {},
  tagErrors: {},
};
let renderQueued = false;
let statusTimer = null; // counts down a throttled retry; notices a look that stopped

// ----- reading the stored look -------------------------------------------------------

function current() {
  const view = stored[KEYS.view] ?? IDLE_VIEW;
  const photo = stored[KEYS.photo]?.runId === view.runId ? stored[KEYS.photo] : null;
  const look = view.look ?? null;
  const items = look?.items ?? [];
  const selection = stored[KEYS.selection];
  const chosen =
    selection?.runId === view.runId ? items.find((item) => item.index === selection.index) : null;
  return { view, photo, look, items, selected: chosen ?? items[0] ?? null };
}

function itemQuery(view, index) {
  const query = stored[`${ITEM_QUERY_PREFIX}${index}`];
  return query?.runId === view.runId ? query : null;
}

function originalSize(look) {
  const image = $('photo');
  if (look?.image?.width && look?.image?.height) return look.image;
  return { width: image.naturalWidth || 1, height: image.naturalHeight || 1 };
}

// ----- rendering ---------------------------------------------------------------------

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  const focusKey = document.activeElement?.dataset?.focusKey;
  const state = current();
  renderStatus(state.view);
  renderPhoto(state);
  renderItem(state);
  renderRegion(state);
  if (focusKey && (document.activeElement === document.body || !document.activeElement)) {
    document.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`)?.focus();
  }
}

function renderStatus(storedView) {
  const nowMs = Date.now();
  const view = isStale(storedView, nowMs)
    ? { status: 'error', runId: storedView.runId, problem: problem('timeout') }
    : storedView;
  const waitSeconds = view.status === 'error' ? secondsToWait(view.problem, view.at, nowMs) : 0;
  // Replace the block only when what it says changes, so screen readers announce it once.
  const key = `${view.status}|${view.runId}|${view.message ?? view.problem?.kind ?? ''}|${waitSeconds}`;
  const container = $('status');
  if (container.dataset.key === key) {
    const bar = container.querySelector('progress');
    if (bar) bar.value = view.progress ?? 0;
  } else {
    const block = view.status === 'results' ? null : statusBlock(document, view, { nowMs });
    container.replaceChildren(...(block ? [block] : []));
    container.dataset.key = key;
  }
  clearTimeout(statusTimer);
  if (waitSeconds > 0 || view.status === 'loading') statusTimer = setTimeout(scheduleRender, 1000);
}

function renderPhoto({ view, photo, look, items, selected }) {
  const section = $('look');
  section.hidden = !photo?.src;
  if (!photo?.src) return;
  const image = $('photo');
  if (image.getAttribute('src') !== photo.src) image.src = photo.src;
  const size = originalSize(look);
  const boxes = view.status === 'results' && !ui.regionMode ? items : [];
  $('boxes').replaceChildren(
    ...boxes.map((item) => itemBox(document, item, size, { selected: item.index === selected?.index })),
  );
  // A region is a new search on the same photo: offered once the shop has looked at it.
  $('region-toolbar').hidden = view.status !== 'results' && view.status !== 'empty';
}

function renderItem({ view, selected }) {
  const section = $('item');
  section.hidden = view.status !== 'results' || !selected;
  if (section.hidden) return;
  const query = itemQuery(view, selected.index);
  const answer = query?.status === 'done' ? query : selected;
  const chips = chipsForItem(selected, {
    overrides: query?.overrides ?? {},
    tagsUsed: answer.tags_used ?? [],
    tagsRelaxed: answer.tags_relaxed ?? [],
  });
  $('item-heading').textContent = itemLabel(selected);
  $('chips').replaceChildren(
    ...chips.map((chip) =>
      tagChip(document, chip, {
        editing: ui.editingKind === chip.kind,
        values: ui.tagValues[chip.kind] ?? null,
        valuesError: ui.tagErrors[chip.kind] ?? null,
      }),
    ),
  );
  renderProducts(view, selected, query, answer);
}

function renderProducts(view, item, query, answer) {
  const list = $('products');
  const note = $('products-note');
  list.setAttribute('aria-busy', query?.status === 'loading' ? 'true' : 'false');
  if (query?.status === 'error') {
    note.replaceChildren(
      errorBlock(document, query.problem, { actionKey: 'products', retryAction: 'requery' }),
    );
    list.replaceChildren();
    return;
  }
  const products = answer.products ?? [];
  note.replaceChildren(
    ...productsNotes(query, answer, products).map((text) =>
      Object.assign(document.createElement('p'), { textContent: text }),
    ),
  );
  list.replaceChildren(...products.map((product) => productCard(document, product)));
}

function productsNotes(query, answer, products) {
  if (query?.status === 'loading') return ['Finding products…'];
  const notes = [];
  const relaxed = (answer.tags_relaxed ?? []).map(parseTag).filter(Boolean);
  if (relaxed.length) {
    const names = relaxed.map((tag) => `${kindLabel(tag.kind).toLowerCase()} ${tag.value}`).join(', ');
    notes.push(`No exact match for ${names}: showing the closest products.`);
  }
  notes.push(
    products.length
      ? `${products.length} similar products at the shop.`
      : 'The shop has no products like this one.',
  );
  return notes;
}

function renderRegion({ view }) {
  const active = ui.regionMode && (view.status === 'results' || view.status === 'empty');
  $('select-region').setAttribute('aria-pressed', String(active));
  $('region-layer').hidden = !active;
  $('region-help').hidden = !active;
  $('region-actions').hidden = !active;
  $('region-search').disabled = !(active && ui.regionRect && isUsableRegion(ui.regionRect));
  drawRegionRect();
}

function drawRegionRect() {
  const box = $('region-rect');
  const rect = ui.regionRect;
  box.hidden = !rect;
  if (!rect) return;
  Object.assign(box.style, {
    left: `${rect.x}px`,
    top: `${rect.y}px`,
    width: `${rect.width}px`,
    height: `${rect.height}px`,
  });
}

// ----- shopper actions ---------------------------------------------------------------

async function send(message) {
  try {
    const answer = await chrome.runtime.sendMessage(message);
    return answer ?? { ok: false, problem: problemForError(null) };
  } catch (error) {
    return { ok: false, problem: problemForError(error) };
  }
}

function selectItem(index) {
  const { view } = current();
  ui.editingKind = null;
  chrome.storage.session.set({ [KEYS.selection]: { runId: view.runId, index } });
}

async function editChip(kind) {
  ui.editingKind = kind;
  scheduleRender();
  if (ui.tagValues[kind]) return;
  delete ui.tagErrors[kind];
  const answer = await send({ type: 'tag-values', kind });
  if (answer.ok) ui.tagValues[kind] = answer.result;
  else ui.tagErrors[kind] = answer.problem.sentence;
  render();
  document.querySelector(`select.chip-select[data-kind="${CSS.escape(kind)}"]`)?.focus();
}

function changeChip(kind, value) {
  const { view, selected } = current();
  const query = itemQuery(view, selected.index);
  const overrides = { ...(query?.overrides ?? {}), [kind]: value };
  ui.editingKind = null;
  send({ type: 'requery', index: selected.index, overrides });
}

function retryProducts() {
  const { view, selected } = current();
  send({
    type: 'requery',
    index: selected.index,
    overrides: itemQuery(view, selected.index)?.overrides ?? {},
  });
}

function onClick(event) {
  const target = event.target.closest('button');
  if (!target || target.disabled) return;
  if (target.dataset.itemIndex != null) return selectItem(Number(target.dataset.itemIndex));
  if (target.classList.contains('chip-change')) return editChip(target.dataset.kind);
  const action = target.dataset.action;
  if (action === 'retry') return send({ type: 'retry' });
  if (action === 'options') return chrome.runtime.openOptionsPage();
  if (action === 'requery') return retryProducts();
}

// ----- region selection --------------------------------------------------------------

function layerPoint(event) {
  const bounds = $('region-layer').getBoundingClientRect();
  return { x: event.clientX - bounds.left, y: event.clientY - bounds.top };
}

function layerSize() {
  const image = $('photo');
  return { width: image.clientWidth, height: image.clientHeight };
}

function toggleRegionMode(on = !ui.regionMode) {
  ui.regionMode = on;
  ui.regionRect = null;
  ui.dragStart = null;
  render();
  if (on) $('region-layer').focus();
}

function searchRegion() {
  if (!ui.regionRect || !isUsableRegion(ui.regionRect)) return;
  const region = displayedToOriginal(ui.regionRect, layerSize(), originalSize(current().look));
  toggleRegionMode(false);
  send({ type: 'region', region });
}

function wireRegion() {
  const layer = $('region-layer');
  layer.addEventListener('pointerdown', (event) => {
    layer.setPointerCapture(event.pointerId);
    ui.dragStart = layerPoint(event);
    ui.regionRect = null;
    event.preventDefault();
  });
  layer.addEventListener('pointermove', (event) => {
    if (!ui.dragStart) return;
    ui.regionRect = rectFromPoints(ui.dragStart, layerPoint(event), layerSize());
    drawRegionRect();
  });
  layer.addEventListener('pointerup', (event) => {
    if (!ui.dragStart) return;
    ui.regionRect = rectFromPoints(ui.dragStart, layerPoint(event), layerSize());
    ui.dragStart = null;
    renderRegion(current());
  });
  layer.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') return searchRegion();
    if (event.key === 'Escape') return toggleRegionMode(false);
    if (!event.key.startsWith('Arrow')) return;
    event.preventDefault();
    ui.regionRect = nudgeRect(
      ui.regionRect ?? centredRect(layerSize()),
      event.key,
      { resize: event.shiftKey },
      layerSize(),
    );
    renderRegion(current());
  });
  $('select-region').addEventListener('click', () => toggleRegionMode());
  $('region-search').addEventListener('click', searchRegion);
  $('region-cancel').addEventListener('click', () => toggleRegionMode(false));
}

// ----- start -------------------------------------------------------------------------

async function start() {
  document.body.addEventListener('click', onClick);
  document.body.addEventListener('change', (event) => {
    if (event.target.matches('select.chip-select')) changeChip(event.target.dataset.kind, event.target.value);
  });
  document.body.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape' || !ui.editingKind) return;
    const kind = ui.editingKind;
    ui.editingKind = null;
    render();
    document.querySelector(`.chip-change[data-kind="${CSS.escape(kind)}"]`)?.focus();
  });
  $('open-options').addEventListener('click', () => chrome.runtime.openOptionsPage());
  $('photo').addEventListener('load', scheduleRender);
  wireRegion();
  chrome.storage.session.onChanged.addListener((changes) => {
    for (const [key, { newValue }] of Object.entries(changes)) {
      if (newValue === undefined) delete stored[key];
      else stored[key] = newValue;
    }
    scheduleRender();
  });
  Object.assign(stored, await chrome.storage.session.get(null));
  render();
  document.documentElement.dataset.ready = 'true';
}

start();
