// anywidget front end of rm.widgets.Microphone. Signalling goes over the widget's comm
// channel at Start (the kernel handles comm messages only while idle); media then
// flows over RTP whatever the kernel is doing.
import type { AnyModel, RenderProps } from "@anywidget/types";

import { LiveApp } from "./app";
import type { Description, FromKernel, MicrophoneModel, ToKernel } from "./protocol";

type Model = AnyModel<MicrophoneModel>;

// The kernel answers in well under a second when idle; longer means a cell is running
// (comm messages wait for it) or the kernel is gone.
const ANSWER_TIMEOUT_MS = 20_000;

export const NO_ANSWER =
  "The kernel did not answer: is a cell still running (the widget can only start " +
  "while the kernel is idle), or was the kernel restarted? Re-run the cell that " +
  "shows the widget after a restart.";
export const KERNEL_GONE =
  "The kernel connection closed (kernel restarted or shut down): re-run the cell " +
  "that shows the widget.";

let nextId = 1;

function send(model: Model, message: ToKernel): void {
  model.send(message);
}

/** Sends the offer over the comm channel and waits for the kernel's answer. */
function commSignaller(model: Model): (offer: Description) => Promise<Description> {
  return (offer) =>
    new Promise<Description>((resolve, reject) => {
      const id = nextId++;
      const finish = (): void => {
        window.clearTimeout(timer);
        model.off("msg:custom", onMessage);
      };
      const onMessage = (message: FromKernel): void => {
        if (message.type === "answer" && message.id === id) {
          finish();
          resolve({ sdp: message.sdp, type: message.sdp_type });
        } else if (message.type === "error" && message.id === id) {
          finish();
          reject(new Error(message.message));
        }
      };
      const timer = window.setTimeout(() => {
        finish();
        reject(new Error(NO_ANSWER));
      }, ANSWER_TIMEOUT_MS);
      model.on("msg:custom", onMessage);
      send(model, { type: "offer", id, sdp: offer.sdp, sdp_type: offer.type });
    });
}

function statsLine(stats: MicrophoneModel["kernel_stats"]): string {
  const keys = Object.keys(stats);
  if (keys.length === 0) return "";
  const show = (key: string, unit = ""): string | null =>
    key in stats ? `${key.replace("_ms", "")} ${String(stats[key])}${unit}` : null;
  const parts = [
    show("frames"),
    show("delay_ms", " ms"),
    show("late"),
    show("lost"),
    show("concealed"),
    show("dropped"),
  ].filter((part): part is string => part !== null);
  return `kernel: ${parts.join(" · ")}`;
}

function render({ model, el }: RenderProps<MicrophoneModel>): () => void {
  const video = model.get("video");
  const app = new LiveApp(el, {
    title: video ? "remotemedia · microphone + camera" : "remotemedia · microphone",
    video,
    playOutput: model.get("play_output"),
    signal: commSignaller(model),
    onState: (state, error) => {
      model.set("state", state);
      model.set("error", error);
      model.save_changes();
    },
    onStop: () => {
      send(model, { type: "stop" });
    },
  });
  const onKernelMessage = (message: FromKernel): void => {
    if (message.type === "stopped") app.stop();
    else if (message.type === "error" && message.id === undefined)
      app.stop(message.message);
  };
  model.on("msg:custom", onKernelMessage);
  const onStats = (): void => {
    app.setNote(statsLine(model.get("kernel_stats")));
  };
  model.on("change:kernel_stats", onStats);
  onStats();
  // ipywidgets fires this when the comm closes (kernel restart or shutdown).
  const onCommLive = (): void => {
    const live = (model as unknown as { comm_live?: boolean }).comm_live;
    if (live === false && app.currentState !== "idle") app.stop(KERNEL_GONE);
  };
  model.on("comm_live_update", onCommLive);
  return () => {
    model.off("msg:custom", onKernelMessage);
    model.off("change:kernel_stats", onStats);
    model.off("comm_live_update", onCommLive);
    app.destroy();
  };
}

export default { render };
