import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const EXTENSION_DIR = fileURLToPath(new URL('..', import.meta.url));
const manifest = JSON.parse(readFileSync(join(EXTENSION_DIR, 'manifest.json'), 'utf8'));

function sourceFiles(dir = join(EXTENSION_DIR, 'src')) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : [path];
  });
}

const SOURCES = sourceFiles().map((path) => ({
  path: relative(EXTENSION_DIR, path),
  text: readFileSync(path, 'utf8'),
}));

describe('manifest: least privilege', () => {
  it('is Manifest V3 with a module service worker', () => {
    assert.equal(manifest.manifest_version, 3);
    assert.deepEqual(manifest.background, { service_worker: 'src/background.js', type: 'module' });
  });

  it("asks for no host permission up front; the shop's origin is requested at runtime", () => {
    assert.equal(manifest.host_permissions, undefined);
    assert.deepEqual(manifest.optional_host_permissions, ['https://*/*', 'http://*/*']);
    assert.equal(manifest.content_scripts, undefined, 'nothing runs in pages before a click');
  });

  it('asks only for the permissions it uses', () => {
    assert.deepEqual([...manifest.permissions].sort(), [
      'activeTab',
      'contextMenus',
      'scripting',
      'sidePanel',
      'storage',
    ]);
  });

  it('has a strict content security policy', () => {
    const policy = manifest.content_security_policy.extension_pages;
    assert.match(policy, /script-src 'self';/);
    assert.match(policy, /object-src 'none'/);
    assert.match(policy, /base-uri 'none'/);
    assert.doesNotMatch(policy, /unsafe-(inline|eval)/);
  });

  it('exposes only the panel to pages, and only through a dynamic URL', () => {
    assert.deepEqual(manifest.web_accessible_resources, [
      { resources: ['src/panel/panel.html'], matches: ['<all_urls>'], use_dynamic_url: true },
    ]);
  });

  it('names files that exist', () => {
    const paths = [
      manifest.background.service_worker,
      manifest.side_panel.default_path,
      manifest.options_ui.page,
      ...Object.values(manifest.icons),
    ];
    for (const path of paths) assert.ok(statSync(join(EXTENSION_DIR, path)).isFile(), path);
  });
});

describe('source rules', () => {
  it('never builds HTML from strings', () => {
    for (const { path, text } of SOURCES) {
      assert.doesNotMatch(
        text,
        /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/,
        path,
      );
    }
  });

  it('has one module that calls fetch', () => {
    const callers = SOURCES.filter(({ text }) => /\bfetch\(/.test(text)).map(({ path }) => path);
    assert.deepEqual(callers, ['src/lib/api.js']);
  });

  it("registers the service worker's listeners at the top level", () => {
    const worker = readFileSync(join(EXTENSION_DIR, 'src/background.js'), 'utf8');
    const listeners = worker.match(/^.*\.addListener\(/gm);
    assert.ok(listeners.length >= 4);
    for (const line of listeners) assert.match(line, /^chrome\./, `not at the top level: ${line}`);
  });

  it('keeps no state in service-worker globals', () => {
    const worker = readFileSync(join(EXTENSION_DIR, 'src/background.js'), 'utf8');
    assert.doesNotMatch(worker, /^(let|var) /m);
  });

  it('loads no remote code', () => {
    for (const { path, text } of SOURCES.filter(({ path }) => path.endsWith('.html'))) {
      assert.doesNotMatch(text, /<script[^>]+src="https?:/, path);
      assert.doesNotMatch(text, /<script>(?!<\/script>)/, `${path}: no inline scripts`);
    }
  });
});
