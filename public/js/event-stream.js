// Server-Sent Events read through fetch, so the stream carries the Authorization header that
// EventSource cannot send (a service with a read token refuses the job's events without it).

import { request } from "./api.js";

const retryMilliseconds = 3000; // EventSource's usual reconnection delay

/// Follows `path`, calling onEvent(name, data) for each event. A dropped connection is opened
/// again after a pause (onError(error, true)), as EventSource does; a refusal (4xx, a 401 for a
/// missing token) stops it (onError(error, false)). close() ends it for good.
export function followEvents(path, { onEvent, onError }) {
  const controller = new AbortController();
  let timer = null;

  const connect = async () => {
    let retry = true;
    try {
      const response = await request("GET", path, { accept: "text/event-stream", signal: controller.signal });
      await readEvents(response.body, onEvent);
      if (controller.signal.aborted) return;
      onError(new Error("the event stream ended"), true);
    } catch (error) {
      if (controller.signal.aborted) return;
      // The service answered and refused: asking again would be refused again.
      retry = !(error.status >= 400 && error.status < 500);
      onError(error, retry);
    }
    if (retry && !controller.signal.aborted) timer = setTimeout(connect, retryMilliseconds);
  };
  connect();
  return {
    close() {
      controller.abort();
      clearTimeout(timer);
    },
  };
}

/// Parses text/event-stream (the WHATWG rules: lines end in LF, CR or CRLF, a blank line ends an
/// event, "event:" names it, "data:" lines join with LF, lines starting with ":" are comments).
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", name = "", data = [], afterCR = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    // A CRLF split between two reads ends one line, not two.
    const text = afterCR && value.startsWith("\n") ? value.slice(1) : value;
    afterCR = text.endsWith("\r");
    const lines = (buffer + text).split(/\r\n|\r|\n/);
    buffer = lines.pop(); // a line still arriving
    for (const line of lines) {
      if (line === "") {
        if (data.length) onEvent(name || "message", data.join("\n"));
        name = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let content = colon < 0 ? "" : line.slice(colon + 1);
      if (content.startsWith(" ")) content = content.slice(1);
      if (field === "event") name = content;
      else if (field === "data") data.push(content);
    }
  }
}
