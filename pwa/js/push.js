// Reminders as notifications on this phone (Web Push). The reminders page has the on/off switch; every
// signed-in page quietly re-registers a subscription the server no longer knows (it ends with each
// sign-in, so a shared phone never gets the previous person's reminders).
import { callJson } from "./api.js";

const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

function keyBytes(base64url) {
  const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function deviceId(endpoint) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(endpoint));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function currentSubscription() {
  if (!supported) return null;
  const registration = await navigator.serviceWorker.getRegistration();
  return registration ? registration.pushManager.getSubscription() : null;
}

export async function turnOn() {
  const permission = await Notification.requestPermission();
  if (permission !== "granted") return { ok: false, reason: "denied" };
  const { status, data } = await callJson("GET", "/api/v1/push/public-key");
  if (status !== 200) return { ok: false, reason: "server" };
  const registration = await navigator.serviceWorker.ready;
  const subscription = await registration.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: keyBytes(data.public_key),
  });
  const saved = await callJson("POST", "/api/v1/push/subscriptions", subscription.toJSON());
  return { ok: saved.status === 200 || saved.status === 201, reason: "server" };
}

// Forget this phone on the server (while still signed in) and in the browser.
export async function turnOff() {
  const subscription = await currentSubscription();
  if (!subscription) return;
  await callJson("DELETE", `/api/v1/push/subscriptions/${await deviceId(subscription.endpoint)}`).catch(() => null);
  await subscription.unsubscribe().catch(() => false);
}

export async function refresh() {
  if (!supported || Notification.permission !== "granted") return;
  const subscription = await currentSubscription();
  if (subscription) await callJson("POST", "/api/v1/push/subscriptions", subscription.toJSON());
}

function initSettings() {
  const card = document.querySelector("[data-push]");
  if (!card || !supported) return;
  const status = card.querySelector(".push-status");
  const on = card.querySelector("[data-push-on]");
  const off = card.querySelector("[data-push-off]");
  const show = async () => {
    const subscribed = Boolean(await currentSubscription()) && Notification.permission === "granted";
    on.hidden = subscribed;
    off.hidden = !subscribed;
    status.textContent = subscribed
      ? "Notifications are on for this phone."
      : Notification.permission === "denied"
        ? "Notifications are blocked for this site in your browser's settings."
        : "Notifications are off for this phone.";
  };
  on.addEventListener("click", async () => {
    status.textContent = "Asking your browser…";
    try {
      const result = await turnOn();
      if (!result.ok) status.textContent = result.reason === "denied" ? "Notifications were not allowed." : "That did not work. Please try again later.";
      else await show();
    } catch {
      status.textContent = "This browser could not turn on notifications. Reminders still show on your Today page.";
    }
  });
  off.addEventListener("click", async () => {
    await turnOff();
    await show();
  });
  card.hidden = false;
  show();
}

initSettings();
