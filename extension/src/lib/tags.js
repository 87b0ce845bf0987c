/**
 * Tag chips and the `tags` query of
 * `GET /api/v1/looks/{id}/items/{index}/products?tags=kind:value,kind:value`.
 */

const KIND_ORDER = ['article_type', 'colour'];
const KIND_LABELS = {
  article_type: 'Type',
  colour: 'Colour',
  gender: 'For',
  usage: 'Usage',
  season: 'Season',
};

export function kindLabel(kind) {
  return KIND_LABELS[kind] ?? kind.replaceAll('_', ' ').replace(/^./, (first) => first.toUpperCase());
}

/** "colour:Blue" -> {kind: "colour", value: "Blue"} (values may contain colons). */
export function parseTag(text) {
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return { kind: text.slice(0, colon), value: text.slice(colon + 1) };
}

export function formatTag({ kind, value }) {
  // A comma would split the tag in two in the query; no catalogue value has one.
  return `${kind}:${String(value).replaceAll(',', ' ')}`;
}

/**
 * One chip per tag kind the shop predicted for an item: its most probable value, or the
 * shopper's choice in `overrides` ({kind: value}). `used`/`relaxed` say how the shop
 * used the tag for the products shown (`tagsUsed`/`tagsRelaxed` as "kind:value").
 */
export function chipsForItem(
  item,
  { overrides = {}, tagsUsed = item.tags_used ?? [], tagsRelaxed = item.tags_relaxed ?? [] } = {},
) {
  const best = new Map();
  for (const tag of item.tags ?? []) {
    const current = best.get(tag.kind);
    if (!current || tag.probability > current.probability) best.set(tag.kind, tag);
  }
  for (const [kind, value] of Object.entries(overrides)) {
    if (value != null && !best.has(kind)) best.set(kind, { kind, value, probability: null });
  }
  const usedKinds = new Set(
    tagsUsed
      .map(parseTag)
      .filter(Boolean)
      .map((tag) => tag.kind),
  );
  const relaxedKinds = new Set(
    tagsRelaxed
      .map(parseTag)
      .filter(Boolean)
      .map((tag) => tag.kind),
  );
  const rank = (kind) => (KIND_ORDER.includes(kind) ? KIND_ORDER.indexOf(kind) : KIND_ORDER.length);
  return [...best.values()]
    .sort((a, b) => rank(a.kind) - rank(b.kind) || a.kind.localeCompare(b.kind))
    .map((tag) => ({
      kind: tag.kind,
      label: kindLabel(tag.kind),
      value: overrides[tag.kind] ?? tag.value,
      predicted: tag.value,
      probability: tag.probability,
      changed: overrides[tag.kind] != null && overrides[tag.kind] !== tag.value,
      used: usedKinds.has(tag.kind),
      relaxed: relaxedKinds.has(tag.kind),
    }));
}

/**
 * The `tags` query for a re-query: the tags the shop used for this item, with the
 * shopper's changes (`overrides`, {kind: value}) replacing or adding a kind.
 */
export function buildTagQuery(tagsUsed, overrides = {}) {
  const byKind = new Map();
  for (const tag of (tagsUsed ?? []).map(parseTag).filter(Boolean)) byKind.set(tag.kind, tag.value);
  for (const [kind, value] of Object.entries(overrides)) {
    if (value == null || value === '') byKind.delete(kind);
    else byKind.set(kind, value);
  }
  return [...byKind].map(([kind, value]) => formatTag({ kind, value })).join(',');
}
