// The outbox: entries written on this phone, kept in IndexedDB until the server has accepted them.
//
// One record per entry, keyed by the entry's UUID (made on the phone, so a replay is the same PUT and the
// server answers "already have it" rather than making a duplicate). A record leaves only on 200/201.
// A classic script on purpose: pages import it for its side effect, and the service worker loads it with
// importScripts() for Background Sync. Both then use self.AfterglowOutbox.
(function (global) {
  "use strict";

  const DB_NAME = "afterglow";
  const DB_VERSION = 1;
  const STORE = "outbox";
  const META = "meta";
  const LOCK = "afterglow-outbox";
  const CHANNEL = "afterglow-outbox";
  const COLLECTIONS = {
    checkin: "checkins",
    reflection: "reflections",
    aftercare: "aftercare",
    questionnaire: "questionnaires",
  };
  // States a patient sees (pwa/js/outbox-ui.js words them).
  const PENDING = "pending"; // on this phone, not yet sent
  const SENDING = "sending";
  const ATTENTION = "attention"; // refused: the message says why; the text is kept
  const CONFLICT = "conflict"; // changed elsewhere too: both copies kept until the patient chooses
  const SIGN_IN = "signin"; // signed out or expired: kept until they sign in again

  let opening = null;
  const channel = "BroadcastChannel" in global ? new BroadcastChannel(CHANNEL) : null;
  const listeners = new Set();

  function open() {
    if (opening) return opening;
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: "id" });
        if (!db.objectStoreNames.contains(META)) db.createObjectStore(META, { keyPath: "key" });
      };
      request.onsuccess = () => {
        const db = request.result;
        // Sign-out deletes the database: let go of it at once so the deletion is not blocked.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      request.onerror = () => {
        opening = null;
        reject(request.error);
      };
    });
    return opening;
  }

  function run(storeName, mode, work) {
    return open().then(
      (db) =>
        new Promise((resolve, reject) => {
          const tx = db.transaction(storeName, mode);
          const store = tx.objectStore(storeName);
          let result;
          Promise.resolve(work(store)).then((value) => {
            result = value;
          });
          tx.oncomplete = () => resolve(result);
          tx.onerror = () => reject(tx.error);
          tx.onabort = () => reject(tx.error);
        }),
    );
  }

  function request(req) {
    return new Promise((resolve, reject) => {
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  function changed() {
    for (const listener of listeners) listener();
    if (channel) channel.postMessage({ type: "changed" });
  }
  if (channel) channel.onmessage = () => listeners.forEach((listener) => listener());

  async function all() {
    const items = await run(STORE, "readonly", (store) => request(store.getAll()));
    return (items || []).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  function get(id) {
    return run(STORE, "readonly", (store) => request(store.get(id)));
  }

  // Add or replace an entry. `rev` counts changes, so an answer to an older send never removes a newer edit.
  // `owner`: the account that wrote it (from the last signed-in page on this phone), so that an entry is
  // never sent with someone else's session when another person signs in on a shared phone.
  async function put(kind, id, body, extra = {}) {
    if (!COLLECTIONS[kind]) throw new Error(`unknown kind ${kind}`);
    const owner = extra.owner !== undefined ? extra.owner : await getMeta("owner");
    const now = new Date().toISOString();
    const record = await run(STORE, "readwrite", async (store) => {
      const old = await request(store.get(id));
      const next = {
        id,
        kind,
        body,
        draft: false,
        label: "",
        href: "",
        ...extra,
        owner: old && old.owner ? old.owner : owner,
        state: PENDING,
        error: "",
        current: null,
        createdAt: old ? old.createdAt : now,
        updatedAt: now,
        rev: old ? old.rev + 1 : 1,
      };
      store.put(next);
      return next;
    });
    changed();
    return record;
  }

  async function update(id, rev, changes) {
    const done = await run(STORE, "readwrite", async (store) => {
      const old = await request(store.get(id));
      if (!old || old.rev !== rev) return false; // edited meanwhile: leave the newer version alone
      store.put({ ...old, ...changes });
      return true;
    });
    changed();
    return done;
  }

  async function removeIfUnchanged(id, rev) {
    const done = await run(STORE, "readwrite", async (store) => {
      const old = await request(store.get(id));
      if (!old || (rev !== undefined && old.rev !== rev)) return false;
      store.delete(id);
      return true;
    });
    changed();
    return done;
  }

  function remove(id) {
    return removeIfUnchanged(id, undefined);
  }

  async function setMeta(key, value) {
    await run(META, "readwrite", (store) => store.put({ key, value }));
  }

  async function getMeta(key) {
    const row = await run(META, "readonly", (store) => request(store.get(key)));
    return row ? row.value : null;
  }

  // One replay at a time across tabs and the service worker (Web Locks where there are, else per page).
  let chain = Promise.resolve();
  function exclusively(work) {
    if (global.navigator && navigator.locks) return navigator.locks.request(LOCK, work);
    const next = chain.then(work, work);
    chain = next.catch(() => undefined);
    return next;
  }

  function firstError(data, fallback) {
    if (data && Array.isArray(data.errors) && data.errors.length && data.errors[0].message) {
      return data.errors[0].message;
    }
    return (data && typeof data.detail === "string" && data.detail) || fallback;
  }

  // Send one record and file the answer. Returns {outcome, data}: saved | pending | attention | conflict | signin.
  async function sendRecord(record, csrfToken) {
    await update(record.id, record.rev, { state: SENDING });
    let response;
    try {
      response = await fetch(`/api/v1/${COLLECTIONS[record.kind]}/${record.id}`, {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken || "" },
        body: JSON.stringify(record.body),
      });
    } catch {
      await update(record.id, record.rev, { state: PENDING, error: "" });
      return { outcome: PENDING, data: null };
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const status = response.status;
    if (status === 200 || status === 201) {
      await removeIfUnchanged(record.id, record.rev);
      return { outcome: "saved", data };
    }
    if (status === 409 && data && data.current) {
      await update(record.id, record.rev, { state: CONFLICT, current: data.current, error: firstError(data, "") });
      return { outcome: CONFLICT, data };
    }
    if (status === 401 || status === 403) {
      await update(record.id, record.rev, { state: SIGN_IN, error: "" });
      return { outcome: SIGN_IN, data };
    }
    if (record.draft && status === 422 && data && data.errors && data.errors[0] && data.errors[0].field === "status") {
      // The finished entry got there first: this older draft of it has nothing left to say.
      await removeIfUnchanged(record.id, record.rev);
      return { outcome: "saved", data: null };
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
      const message = firstError(data, "This entry was not accepted.");
      await update(record.id, record.rev, { state: ATTENTION, error: message });
      return { outcome: ATTENTION, data };
    }
    // 5xx, 408, 429: the server could not take it now. Keep it and try again later.
    await update(record.id, record.rev, { state: PENDING, error: "" });
    return { outcome: PENDING, data };
  }

  function isOthers(record, owner) {
    return Boolean(record.owner && owner && record.owner !== owner);
  }

  // Send everything waiting (or only `ids`). Conflicts and refused entries wait for the patient, unless
  // named; another account's entries wait for that account to sign in again on this phone.
  function replay({ csrfToken, ids = null, onResult = null } = {}) {
    return exclusively(async () => {
      const results = [];
      const owner = await getMeta("owner");
      for (const record of await all()) {
        const named = ids && ids.includes(record.id);
        if (ids && !named) continue;
        if (isOthers(record, owner)) continue;
        if (!named && (record.state === CONFLICT || record.state === ATTENTION)) continue;
        const result = await sendRecord(record, csrfToken);
        results.push({ record, ...result });
        if (onResult) onResult(record, result);
      }
      return results;
    });
  }

  async function destroy() {
    if (opening) {
      try {
        (await opening).close();
      } catch {
        // not open: nothing to close
      }
      opening = null;
    }
    await new Promise((resolve) => {
      const req = indexedDB.deleteDatabase(DB_NAME);
      req.onsuccess = req.onerror = () => resolve();
      // Blocked while another tab still holds it open; they close on "versionchange", so this is brief.
      req.onblocked = () => setTimeout(resolve, 3000);
    });
  }

  global.AfterglowOutbox = {
    DB_NAME,
    COLLECTIONS,
    states: { PENDING, SENDING, ATTENTION, CONFLICT, SIGN_IN },
    all,
    get,
    isOthers,
    put,
    update,
    remove,
    replay,
    setMeta,
    getMeta,
    destroy,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
})(self);
