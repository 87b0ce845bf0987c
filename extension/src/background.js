/**
 * The service worker. All listeners are registered synchronously at the top level, so
 * the browser can wake the worker for any of them; no state is kept in globals (see
 * lib/session.js).
 */

import { rerunLook, requeryItem, shopImage, tagValues } from './lib/look-service.js';
import { problemForError } from './lib/problems.js';
import { loadSettings } from './lib/settings.js';

const MENU_ID = 'shop-this-look';

// What the panel may ask of the worker (chrome.runtime.sendMessage({type, ...})).
const MESSAGE_HANDLERS = {
  retry: () => rerunLook(),
  region: ({ region }) => rerunLook({ region }),
  requery: ({ index, overrides }) => requeryItem({ index, overrides }),
  'tag-values': ({ kind }) => tagValues({ kind }),
};

chrome.runtime.onInstalled.addListener(async ({ reason }) => {
  await chrome.contextMenus.removeAll();
  chrome.contextMenus.create({ id: MENU_ID, title: 'Shop this look', contexts: ['image'] });
  await chrome.sidePanel?.setPanelBehavior({ openPanelOnActionClick: true });
  if (reason === chrome.runtime.OnInstalledReason.INSTALL && !(await loadSettings())) {
    await chrome.runtime.openOptionsPage();
  }
});

chrome.contextMenus.onClicked.addListener(onMenuClicked);

chrome.action.onClicked.addListener((tab) => {
  // Only fires where the action does not open the side panel itself.
  openResultsView(tab);
});

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (sender.id !== chrome.runtime.id) return false;
  const handler = MESSAGE_HANDLERS[message?.type];
  if (!handler) return false;
  handler(message).then(
    (result) => sendResponse({ ok: true, result }),
    (error) => sendResponse({ ok: false, problem: problemForError(error) }),
  );
  return true; // answered asynchronously
});

/** The "Shop this look" menu item. Nothing is sent to the shop before this click. */
function onMenuClicked(info, tab) {
  if (info.menuItemId !== MENU_ID || !info.srcUrl) return Promise.resolve();
  openResultsView(tab); // first, while the click still counts as a user gesture
  return shopImage({ srcUrl: info.srcUrl, pageUrl: info.pageUrl, tabId: tab?.id, frameId: info.frameId });
}

// The browser tests call the menu's handler directly: a native context-menu click can't be
// driven in headless Chromium. The handler does nothing the menu click would not.
globalThis.shopThisLook = onMenuClicked;

/** The side panel (Chromium), the sidebar (Firefox), or an overlay in the page (elsewhere). */
function openResultsView(tab) {
  if (chrome.sidePanel?.open) {
    const target = tab?.id >= 0 ? { tabId: tab.id } : { windowId: tab?.windowId };
    chrome.sidePanel.open(target).catch((error) => console.warn('ShopALook: side panel not opened', error));
    return;
  }
  const sidebar = globalThis.browser?.sidebarAction;
  if (sidebar?.open) {
    sidebar.open().catch((error) => console.warn('ShopALook: sidebar not opened', error));
    return;
  }
  if (tab?.id >= 0) {
    chrome.scripting
      .executeScript({ target: { tabId: tab.id }, files: ['src/content/overlay.js'] })
      .catch((error) => console.warn('ShopALook: overlay not shown', error));
  }
}
