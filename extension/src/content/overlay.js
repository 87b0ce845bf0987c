/**
 * The results in an overlay on the page, for browsers without a side panel. Injected by
 * the service worker (chrome.scripting, allowed by activeTab) only after the shopper
 * chose "Shop this look". The panel page runs in an extension frame: the page sees
 * neither the look nor the API key. A closed shadow root keeps the page's styles out.
 */
(() => {
  const HOST_ID = 'shopalook-overlay-host';
  const existing = document.getElementById(HOST_ID);
  if (existing) {
    existing.dispatchEvent(new Event('shopalook-focus'));
    return;
  }

  const host = document.createElement('div');
  host.id = HOST_ID;
  const root = host.attachShadow({ mode: 'closed' });
  // A constructed style sheet, which the page's content security policy cannot block.
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(`
    :host { all: initial; }
    .overlay { position: fixed; top: 0; right: 0; z-index: 2147483647; width: min(420px, 100vw); height: 100vh;
      display: flex; flex-direction: column; background: Canvas; color: CanvasText;
      box-shadow: -4px 0 16px rgba(0, 0, 0, 0.35); font: 14px system-ui, sans-serif; color-scheme: light dark; }
    .bar { display: flex; justify-content: flex-end; padding: 4px; border-bottom: 1px solid GrayText; }
    button { font: inherit; padding: 4px 10px; cursor: pointer; }
    button:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
    iframe { flex: 1; width: 100%; border: 0; }`);
  root.adoptedStyleSheets = [sheet];
  const overlay = document.createElement('div');
  overlay.className = 'overlay';
  overlay.setAttribute('role', 'dialog');
  overlay.setAttribute('aria-label', 'ShopALook results');
  const bar = document.createElement('div');
  bar.className = 'bar';
  const close = document.createElement('button');
  close.type = 'button';
  close.textContent = 'Close';
  close.setAttribute('aria-label', 'Close ShopALook results');
  const frame = document.createElement('iframe');
  frame.title = 'ShopALook results';
  frame.src = chrome.runtime.getURL('src/panel/panel.html');
  bar.append(close);
  overlay.append(bar, frame);
  root.append(overlay);

  const previousFocus = document.activeElement;
  const remove = () => {
    document.removeEventListener('keydown', onKeydown, true);
    host.remove();
    if (previousFocus instanceof HTMLElement) previousFocus.focus();
  };
  const onKeydown = (event) => {
    if (event.key === 'Escape') remove();
  };
  close.addEventListener('click', remove);
  document.addEventListener('keydown', onKeydown, true);
  host.addEventListener('shopalook-focus', () => frame.focus());
  document.documentElement.append(host);
  frame.focus();
})();
