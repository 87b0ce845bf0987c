/**
 * How the clicked photo reaches the shop: by URL when the shop can download it itself,
 * otherwise as bytes read from the page (blob:/data: URLs, private hosts, pages behind
 * a login).
 */

// Bytes are kept in session storage for retries and regions (10 MB quota, base64 is 4/3).
export const MAX_IMAGE_BYTES = 6 * 1024 * 1024;

export class ImageReadError extends Error {
  constructor(kind, detail = '') {
    super(detail || kind);
    this.name = 'ImageReadError';
    this.kind = kind; // a problem kind: image_unreadable, too_large, not_an_image
  }
}

/** "url" (send the address), "data" (decode the data: URL) or "page" (read bytes in the page). */
export function planImageSource(srcUrl) {
  let url;
  try {
    url = new URL(srcUrl);
  } catch {
    return 'page';
  }
  if (url.protocol === 'data:') return 'data';
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'page';
  if (url.username || url.password) return 'page';
  return isPrivateHost(url.hostname) ? 'page' : 'url';
}

/** True for hosts the shop's server cannot (and should not) reach: loopback, LAN, intranet names. */
export function isPrivateHost(hostname) {
  const host = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')) return true;
  if (host.endsWith('.internal') || host.endsWith('.lan') || host.endsWith('.home.arpa')) return true;
  const ipv4 = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (ipv4) return isPrivateIpv4(ipv4.slice(1).map(Number));
  if (host.includes(':')) return isPrivateIpv6(host);
  return !host.includes('.'); // a single-label name ("intranet") resolves only inside a network
}

function isPrivateIpv4([a, b]) {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168)
  );
}

function isPrivateIpv6(host) {
  if (host === '::1' || host === '::') return true;
  if (host.startsWith('::ffff:')) return true; // IPv4-mapped: judged by the server, keep local
  return /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
}

/** Decode a base64 `data:` URL into `{blob, type}`; throws ImageReadError when it is not an image. */
export function dataUrlToBlob(dataUrl) {
  const match = /^data:([^;,]*)((?:;[^;,]*)*?)(;base64)?,(.*)$/s.exec(dataUrl);
  if (!match) throw new ImageReadError('image_unreadable', 'malformed data URL');
  const type = (match[1] || 'text/plain').toLowerCase();
  if (!type.startsWith('image/')) throw new ImageReadError('not_an_image', type);
  const bytes = match[3]
    ? Uint8Array.from(atob(match[4]), (character) => character.charCodeAt(0))
    : new TextEncoder().encode(decodeURIComponent(match[4]));
  if (bytes.length > MAX_IMAGE_BYTES) throw new ImageReadError('too_large');
  return { blob: new Blob([bytes], { type }), type };
}

const EXTENSIONS = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/avif': 'avif',
  'image/bmp': 'bmp',
};

export function filenameForType(type) {
  return `photo.${EXTENSIONS[type] ?? 'img'}`;
}
