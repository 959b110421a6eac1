// The patient's app on every patient page and every page of the offline shell: the service worker and its
// "new version" prompt, the outbox (sent on load, on `online`, on returning to the app, from "Sync now" and
// by Background Sync), entry forms through the outbox, and a sign-out that leaves nothing on a shared phone.
import "./outbox-core.js";
import { csrfToken } from "./api.js";
import { enhanceForms } from "./forms.js";
import { initOutbox, render, replayNow } from "./outbox-ui.js";
import { refresh as refreshPush, turnOff as forgetPush } from "./push.js";

const outbox = self.AfterglowOutbox;
const signedIn = document.body.hasAttribute("data-signed-in");

// Before anything awaits: other modules on the page (reflect.js) read the entry ids this sets.
enhanceForms();

// --- service worker ---------------------------------------------------------------------------------

function askWorker(worker, message, timeoutMs = 3000) {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), timeoutMs);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      resolve(event.data);
    };
    worker.postMessage(message, [channel.port2]);
  });
}

function offerUpdate(worker) {
  const banner = document.querySelector("[data-update]");
  if (!banner) return;
  banner.hidden = false;
  banner.querySelector("[data-update-reload]").onclick = () => {
    sessionStorage.setItem("afterglow-reload", "1");
    worker.postMessage({ type: "skip-waiting" });
  };
}

async function startWorker() {
  if (!("serviceWorker" in navigator)) return;
  const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  // Only a reload the patient asked for: the first worker taking control must not reload a page mid-entry.
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (sessionStorage.getItem("afterglow-reload")) {
      sessionStorage.removeItem("afterglow-reload");
      location.reload();
    }
  });
  if (registration.waiting && navigator.serviceWorker.controller) offerUpdate(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    if (!worker) return;
    worker.addEventListener("statechange", () => {
      if (worker.state === "installed" && navigator.serviceWorker.controller) offerUpdate(worker);
    });
  });
  if (signedIn) {
    const ready = await navigator.serviceWorker.ready;
    if (ready.active) askWorker(ready.active, { type: "warm" }, 30000);
  }
}

// --- sign-out on a shared phone ---------------------------------------------------------------------

function ask(dialog, text) {
  dialog.querySelector(".signout-text").textContent = text;
  return new Promise((resolve) => {
    const choose = (choice) => () => {
      dialog.close();
      resolve(choice);
    };
    dialog.querySelector("[data-signout-sync]").onclick = choose("sync");
    dialog.querySelector("[data-signout-anyway]").onclick = choose("anyway");
    dialog.querySelector("[data-signout-cancel]").onclick = choose("cancel");
    dialog.oncancel = choose("cancel");
    dialog.showModal();
  });
}

function waitingText(count, again) {
  const entries = count === 1 ? "1 entry is" : `${count} entries are`;
  const start = again ? `Still not sent: ${entries} only on this phone.` : `${entries} saved only on this phone and not sent yet.`;
  return `${start} If you sign out now, ${count === 1 ? "it" : "they"} will be deleted from this phone.`;
}

// Ask first when something would be lost. Resolves true to go ahead with signing out.
async function readyToLeave() {
  const dialog = document.querySelector("[data-signout-dialog]");
  let again = false;
  for (;;) {
    const waiting = (await outbox.all().catch(() => [])).length;
    if (waiting === 0 || !dialog) return true;
    const choice = await ask(dialog, waitingText(waiting, again));
    if (choice === "cancel") return false;
    if (choice === "anyway") return true;
    await replayNow().catch(() => undefined);
    again = true;
  }
}

// Everything this site keeps on the phone: caches, the outbox database, web storage, push. The server's
// Clear-Site-Data header asks the browser for the same, but not every browser honours all of it.
async function clearThisPhone() {
  await forgetPush().catch(() => undefined); // while still signed in, so the server forgets the phone too
  const registration = "serviceWorker" in navigator ? await navigator.serviceWorker.getRegistration() : null;
  if (registration && registration.active) await askWorker(registration.active, { type: "sign-out" });
  if ("caches" in window) {
    for (const name of await caches.keys()) await caches.delete(name);
  }
  await outbox.destroy();
  localStorage.clear();
  sessionStorage.clear();
}

function initSignOut() {
  const form = document.querySelector("form[data-signout]");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!(await readyToLeave())) return;
    await clearThisPhone();
    // Shell pages carry no token of their own; a page's token may be stale: use the cookie's.
    let field = form.querySelector("[name=_csrf_token]");
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "_csrf_token";
      form.append(field);
    }
    field.value = csrfToken();
    HTMLFormElement.prototype.submit.call(form); // does not fire "submit" again
  });
}

// --- start ------------------------------------------------------------------------------------------

initSignOut();
if (signedIn) {
  // Who is signed in on this phone now, before anything is sent: entries are stamped with it and sent
  // only with that account's session (a shared phone may hold another person's unsent entries).
  await outbox.setMeta("owner", document.body.dataset.user).catch(() => undefined);
  // The service worker's Background Sync has no cookies to read: it gets the CSRF token from here.
  outbox.setMeta("csrf", csrfToken()).catch(() => undefined);
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => false);
  refreshPush().catch(() => undefined);
}
initOutbox();
startWorker().catch(() => render());
