// The one place that talks HTTP to the service: adds the bearer token and turns the
// service's error envelope into an Error with a readable message. Everything the page loads from
// the service comes through here, images and event streams included, since a service with a read
// token refuses what the browser would fetch on its own (<img src>, EventSource) without it.

const tokenKey = "salient.token";

export function storedToken() {
  try {
    return localStorage.getItem(tokenKey) || "";
  } catch {
    return ""; // storage can be disabled (private mode, file://); the field still works per page
  }
}

export function storeToken(token) {
  try {
    if (token) localStorage.setItem(tokenKey, token);
    else localStorage.removeItem(tokenKey);
  } catch {
    // Nothing to do: the token stays in the input for this page.
  }
}

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let currentToken = storedToken();

export function setToken(token) {
  currentToken = token;
  storeToken(token);
}

export async function request(method, path, { body, contentType, accept = "application/json", signal } = {}) {
  const headers = { Accept: accept };
  if (contentType) headers["Content-Type"] = contentType;
  // Sent with reads too: a service configured with protect_reads wants it everywhere.
  if (currentToken) headers.Authorization = `Bearer ${currentToken}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new APIError(0, "network", `The service could not be reached (${error.message}).`);
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

export async function getJSON(path) {
  return (await request("GET", path)).json();
}

export async function sendJSON(method, path, value) {
  const response = await request(method, path, {
    body: value === undefined ? undefined : JSON.stringify(value),
    contentType: value === undefined ? undefined : "application/json",
  });
  return response.status === 204 ? null : response.json();
}

async function errorFrom(response) {
  let code = "http_" + response.status, message = `${response.status} ${response.statusText}`;
  try {
    const payload = await response.json();
    if (payload && payload.error) {
      code = payload.error.code || code;
      message = payload.error.message || message;
    }
  } catch {
    // Not JSON (a proxy's page, say): keep the status line.
  }
  if (response.status === 401) message = `${message.replace(/[.\s]*$/, "")}. Set the API token at the top of the page.`;
  return new APIError(response.status, code, message);
}

/// An object URL for what `path` answers (an image, a download), fetched with the token. The
/// caller revokes it when it is no longer shown.
export async function objectURL(path, accept = "*/*") {
  const response = await request("GET", path, { accept });
  return URL.createObjectURL(await response.blob());
}
