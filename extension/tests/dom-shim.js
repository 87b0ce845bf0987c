/** Just enough of the DOM for render.js, and loud if anything tries to use HTML strings. */

class ShimElement {
  constructor(tagName) {
    this.tagName = tagName.toUpperCase();
    this.children = [];
    this.attributes = {};
    this.dataset = {};
    this.style = {};
    this.className = '';
    this.ownText = '';
  }

  get textContent() {
    return this.ownText + this.children.map((child) => child.textContent).join('');
  }

  set textContent(value) {
    this.ownText = String(value);
    this.children = [];
  }

  setAttribute(name, value) {
    this.attributes[name] = String(value);
  }

  getAttribute(name) {
    return name in this.attributes ? this.attributes[name] : null;
  }

  hasAttribute(name) {
    return name in this.attributes;
  }

  append(...nodes) {
    this.children.push(...nodes);
  }

  /** All descendants (depth first) matching `predicate`. */
  findAll(predicate) {
    const found = [];
    for (const child of this.children) {
      if (predicate(child)) found.push(child);
      found.push(...child.findAll(predicate));
    }
    return found;
  }

  find(predicate) {
    return this.findAll(predicate)[0] ?? null;
  }

  byClass(name) {
    return this.find((node) => node.className.split(' ').includes(name));
  }

  set innerHTML(_value) {
    throw new Error('innerHTML must not be used');
  }

  get innerHTML() {
    throw new Error('innerHTML must not be used');
  }

  insertAdjacentHTML() {
    throw new Error('insertAdjacentHTML must not be used');
  }
}

export const shimDocument = { createElement: (tagName) => new ShimElement(tagName) };
