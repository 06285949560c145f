// The demo page of `remotemedia serve --webrtc`: streams the microphone through the
// server's pipeline and plays the result. Signalling: POST /offer, with the page's
// ?token= as a bearer token when given.
import { LiveApp } from "./app";
import type { Description } from "./protocol";

export const SERVER_GONE =
  "The server did not answer: is `remotemedia serve --webrtc` still running?";

/** POSTs the offer to `url`; errors name the cause (unauthorized, server gone...). */
export function httpSignaller(
  url: string,
  token: string | null,
): (offer: Description) => Promise<Description> {
  return async (offer) => {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    let reply: Response;
    try {
      reply = await fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify(offer),
      });
    } catch {
      throw new Error(SERVER_GONE);
    }
    if (reply.status === 401 || reply.status === 403) {
      throw new Error(
        "Unauthorized: open the page with the server's token (…/?token=TOKEN).",
      );
    }
    const body = await reply.text();
    if (!reply.ok) {
      throw new Error(`The server refused the offer (HTTP ${reply.status}): ${body}`);
    }
    const answer = JSON.parse(body) as Partial<Description>;
    if (typeof answer.sdp !== "string" || typeof answer.type !== "string") {
      throw new Error("The server's reply is not an SDP answer.");
    }
    return { sdp: answer.sdp, type: answer.type };
  };
}

function main(): void {
  const params = new URLSearchParams(window.location.search);
  const host = document.getElementById("rm-app") ?? document.body;
  const app = new LiveApp(host, {
    title: "remotemedia · live pipeline",
    video: params.get("video") === "1",
    playOutput: params.get("play") !== "0",
    signal: httpSignaller(
      new URL("offer", window.location.href).href,
      params.get("token"),
    ),
    onState: (state, error) => {
      document.body.dataset.state = state;
      document.body.dataset.error = error;
    },
  });
  // Lets the page (and tests) drive it from the console.
  (window as unknown as { remotemedia: LiveApp }).remotemedia = app;
}

main();
