// Reflection forms: one prompt per screen for the integration reflection (back, next, skip, progress),
// and a draft saved to the server as the patient types, so closing the tab loses nothing.
// Without JavaScript the same form shows every prompt and posts normally.
import { putJson } from "./api.js";

const form = document.querySelector(".reflect-form");
const AUTOSAVE_DELAY_MS = 800;

function answers() {
  return [...form.querySelectorAll("textarea[name^='answer:']")]
    .map((area) => ({ prompt_id: area.name.slice("answer:".length), text: area.value }))
    .filter((answer) => answer.text.trim() !== "");
}

function draftBody() {
  const body = { kind: form.dataset.kind, answers: answers(), status: "draft" };
  const session = form.querySelector("[name=kap_session_id]");
  const promptSet = form.querySelector("[name=prompt_set]");
  const sharing = form.querySelector("[name=sharing]");
  if (session && session.value) body.kap_session_id = session.value;
  if (promptSet && promptSet.value) body.prompt_set = promptSet.value;
  if (sharing) body.sharing = sharing.value;
  return body;
}

function setupAutosave() {
  // A finished reflection being edited is saved only when the patient presses Save.
  if (form.querySelector("[name=base_version]")) return;
  const status = form.querySelector(".save-status");
  const localKey = `afterglow-draft:${form.dataset.entryId}`;
  let timer = null;
  let saving = Promise.resolve();

  const save = () => {
    saving = saving.then(async () => {
      const body = draftBody();
      // Kept on this device until the server has it, so a dropped connection loses nothing.
      localStorage.setItem(localKey, JSON.stringify(body));
      try {
        const { status: code } = await putJson(`/api/v1/reflections/${form.dataset.entryId}`, body);
        if (code === 200 || code === 201) {
          localStorage.removeItem(localKey);
          status.textContent = `Draft saved at ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}.`;
        } else if (code === 401 || code === 403) {
          status.textContent = "Saved on this phone only. Please sign in again to keep saving.";
        } else {
          status.textContent = "Saved on this phone only. We will try again as you write.";
        }
      } catch {
        status.textContent = "Saved on this phone — not yet sent. You seem to be offline.";
      }
    });
  };

  const restored = localStorage.getItem(localKey);
  if (restored) {
    for (const answer of JSON.parse(restored).answers || []) {
      const area = form.querySelector(`textarea[name="answer:${CSS.escape(answer.prompt_id)}"]`);
      if (area && !area.value) area.value = answer.text;
    }
    status.textContent = "We restored what you wrote on this phone.";
  }
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_DELAY_MS);
  });
  form.addEventListener("submit", () => clearTimeout(timer));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden" && timer) {
      clearTimeout(timer);
      save();
    }
  });
}

function setupStepper() {
  if (!form.hasAttribute("data-stepper")) return;
  const prompts = [...form.querySelectorAll(".prompt")];
  const finish = form.querySelector(".finish");
  const nav = form.querySelector(".stepper-nav");
  const progress = form.querySelector(".stepper-progress");
  const back = nav.querySelector("[data-step=back]");
  const next = nav.querySelector("[data-step=next]");
  const skip = nav.querySelector("[data-step=skip]");
  let current = 0;

  const show = (index) => {
    current = Math.max(0, Math.min(index, prompts.length));
    prompts.forEach((prompt, i) => {
      prompt.hidden = i !== current;
    });
    const atEnd = current === prompts.length;
    finish.hidden = !atEnd;
    back.disabled = current === 0;
    next.hidden = atEnd;
    skip.hidden = atEnd;
    progress.textContent = atEnd
      ? "All questions done. Choose who can see it, then save."
      : `Question ${current + 1} of ${prompts.length}`;
    const focusTarget = atEnd ? finish.querySelector("select") : prompts[current].querySelector("textarea");
    if (focusTarget) focusTarget.focus({ preventScroll: false });
  };

  nav.hidden = false;
  progress.hidden = false;
  back.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  skip.addEventListener("click", () => {
    const area = prompts[current].querySelector("textarea");
    if (area.value.trim() === "") area.value = "";
    show(current + 1);
  });
  const firstEmpty = prompts.findIndex((p) => p.querySelector("textarea").value.trim() === "");
  show(firstEmpty === -1 ? prompts.length : firstEmpty);
}

if (form) {
  setupStepper();
  setupAutosave();
}
