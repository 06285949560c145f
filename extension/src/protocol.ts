// What the browser and the kernel exchange. Mirrors remotemedia/notebook/microphone.py.

/** An SDP offer or answer, as `RTCSessionDescription.toJSON()` gives it. */
export interface Description {
  sdp: string;
  type: string;
}

/** The widget's synced traitlets (Python: `Microphone`). */
export interface MicrophoneModel {
  sample_rate: number;
  video: boolean;
  play_output: boolean;
  /** Connection state, written by the browser: see `LiveState`. */
  state: string;
  /** Last error shown in the widget ("" when none), written by the browser. */
  error: string;
  /** Summary of the kernel peer's `stats()`, refreshed by the kernel. */
  kernel_stats: Record<string, number | string>;
}

/** Custom comm messages, browser to kernel. */
export type ToKernel =
  { type: "offer"; id: number; sdp: string; sdp_type: string } | { type: "stop" };

/** Custom comm messages, kernel to browser. */
export type FromKernel =
  | { type: "answer"; id: number; sdp: string; sdp_type: string }
  | { type: "error"; id?: number; message: string }
  | { type: "stopped" };

/** One message on the "rm-results" data channel (remotemedia/webrtc/results.py). */
export interface ResultMessage {
  type: string;
  text?: string;
  value?: unknown;
  node?: string;
  message?: string;
  t?: number;
}

export const RESULTS_CHANNEL = "rm-results";

/** Turns any JSON value received on the results channel into a `ResultMessage`. */
export function toResult(raw: unknown): ResultMessage {
  if (typeof raw === "string") return { type: "text", text: raw };
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    const obj = raw as Record<string, unknown>;
    const type = typeof obj.type === "string" ? obj.type : "result";
    const result: ResultMessage = { type };
    if (typeof obj.text === "string") result.text = obj.text;
    if (typeof obj.message === "string") result.message = obj.message;
    if (typeof obj.node === "string") result.node = obj.node;
    if (typeof obj.t === "number") result.t = obj.t;
    if ("value" in obj) result.value = obj.value;
    return result;
  }
  return { type: "value", value: raw };
}
