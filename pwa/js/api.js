// Talking to the JSON API from pages: the CSRF cookie echoed in a header, JSON in and out.
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)afterglow_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function callJson(method, url, body) {
  const headers = { "X-CSRFToken": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { status: response.status, data };
}
