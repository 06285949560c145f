// The live panel: device picker, Start/Stop, connection state, level meters, results
// and counters, return audio. The notebook widget and the standalone page differ only
// in how they signal (the `Signaller`) and what they do on state changes.
import { RtcClient } from "./client";
import type { LiveState, Signaller } from "./client";
import {
  MediaAccessError,
  listMicrophones,
  maybeMediaDevices,
  openCapture,
  stopStream,
} from "./media";
import type { CaptureOptions } from "./media";
import { LevelMeter, meterFraction } from "./meter";
import type { ResultMessage } from "./protocol";
import { injectStyles } from "./styles";

export interface LiveAppOptions {
  title: string;
  video: boolean;
  playOutput: boolean;
  signal: Signaller;
  /** Called on every state change, with the error shown ("" when none). */
  onState?: (state: LiveState, error: string) => void;
  /** Called when the user (or a failure) stops a running session. */
  onStop?: () => void;
}

const STATS_INTERVAL_MS = 1000;
// A "disconnected" connection may recover (a brief network hiccup); after this long
// the other side is taken as gone and the devices are released.
const DISCONNECTED_GRACE_MS = 6000;

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent: HTMLElement,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  parent.appendChild(node);
  return node;
}

interface Meter {
  bar: HTMLDivElement;
  db: HTMLSpanElement;
}

export class LiveApp {
  readonly root: HTMLDivElement;
  private readonly device: HTMLSelectElement;
  private readonly startButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;
  private readonly stateBadge: HTMLSpanElement;
  private readonly errorBox: HTMLDivElement;
  private readonly transcript: HTMLDivElement;
  private readonly countersLine: HTMLDivElement;
  private readonly noteLine: HTMLDivElement;
  private readonly micMeter: Meter;
  private readonly returnMeter: Meter;
  private readonly audio: HTMLAudioElement;
  private readonly preview: HTMLVideoElement;

  private state: LiveState = "idle";
  private error = "";
  private capture: MediaStream | null = null;
  private client: RtcClient | null = null;
  private context: AudioContext | null = null;
  private meters: LevelMeter[] = [];
  private statsTimer = 0;
  private graceTimer = 0;
  private results = new Map<string, number>();
  private startedAt = 0;
  private readonly onDeviceChange = (): void => {
    void this.refreshDevices();
  };

  constructor(
    parent: HTMLElement,
    private readonly options: LiveAppOptions,
  ) {
    injectStyles(parent.ownerDocument);
    this.root = element("div", "rm-live", parent);
    element("div", "rm-live-title", this.root).textContent = options.title;

    const controls = element("div", "rm-live-row", this.root);
    this.device = element("select", "rm-live-device", controls);
    this.device.title = "microphone";
    this.startButton = element("button", "rm-live-start", controls);
    this.startButton.textContent = "Start";
    this.stopButton = element("button", "rm-live-stop", controls);
    this.stopButton.textContent = "Stop";
    this.stateBadge = element("span", "rm-live-state", controls);

    this.micMeter = this.meterRow("mic");
    this.returnMeter = this.meterRow("return");
    this.errorBox = element("div", "rm-live-error", this.root);
    this.transcript = element("div", "rm-live-transcript", this.root);
    this.countersLine = element("div", "rm-live-counters", this.root);
    this.noteLine = element("div", "rm-live-kernel", this.root);
    this.preview = element("video", "rm-live-preview", this.root);
    this.preview.muted = true;
    this.preview.playsInline = true;
    this.preview.hidden = true;
    this.audio = element("audio", "rm-live-audio", this.root);
    this.audio.autoplay = true;

    this.startButton.addEventListener("click", () => {
      void this.start();
    });
    this.stopButton.addEventListener("click", () => {
      this.stop();
    });
    maybeMediaDevices()?.addEventListener("devicechange", this.onDeviceChange);
    this.setState("idle");
    this.renderCounters(null);
    void this.refreshDevices();
  }

  /** Opens the capture, connects, and streams until `stop()` or a failure. */
  async start(): Promise<void> {
    if (this.state === "starting" || this.state === "connecting") return;
    this.teardown();
    this.results.clear();
    this.transcript.textContent = "";
    this.setState("starting");
    try {
      // The AudioContext is made inside the click, so autoplay rules allow it.
      this.context = new AudioContext();
      const capture: CaptureOptions = { video: this.options.video };
      if (this.device.value) capture.audioDeviceId = this.device.value;
      this.capture = await openCapture(capture);
      void this.refreshDevices(); // labels are readable once access is granted
      this.meters.push(
        new LevelMeter(this.context, this.capture, (db) => {
          this.showLevel(this.micMeter, db);
        }),
      );
      if (this.options.video) {
        this.preview.srcObject = this.capture;
        this.preview.hidden = false;
        void this.preview.play().catch(() => undefined);
      }
      this.client = new RtcClient({
        onState: (state, message) => {
          this.setState(state, message);
        },
        onRemoteStream: (stream) => {
          this.playReturn(stream);
        },
        onResult: (result) => {
          this.showResult(result);
        },
      });
      this.startedAt = performance.now();
      await this.client.connect(this.capture, this.options.signal);
      this.statsTimer = window.setInterval(() => {
        void this.updateCounters();
      }, STATS_INTERVAL_MS);
    } catch (error) {
      const message =
        error instanceof MediaAccessError || error instanceof Error
          ? error.message
          : String(error);
      this.teardown();
      this.setState("failed", message);
      this.options.onStop?.();
    }
  }

  /** Stops streaming and releases the microphone, camera and connection. */
  stop(message = ""): void {
    const running = this.client !== null;
    this.teardown();
    this.setState(message ? "failed" : "stopped", message);
    if (running) this.options.onStop?.();
  }

  /** A line under the counters (the widget shows the kernel's statistics there). */
  setNote(text: string): void {
    this.noteLine.textContent = text;
  }

  /** Stops everything and removes listeners (the view is gone). */
  destroy(): void {
    this.teardown();
    maybeMediaDevices()?.removeEventListener("devicechange", this.onDeviceChange);
    this.root.remove();
  }

  get currentState(): LiveState {
    return this.state;
  }

  private meterRow(label: string): Meter {
    const row = element("div", "rm-live-meter-row", this.root);
    element("span", "rm-live-meter-label", row).textContent = label;
    const track = element("div", "rm-live-meter", row);
    track.dataset.meter = label;
    const bar = element("div", "rm-live-meter-bar", track);
    const db = element("span", "rm-live-db", row);
    this.showLevel({ bar, db }, -Infinity);
    return { bar, db };
  }

  private showLevel(meter: Meter, db: number): void {
    meter.bar.style.width = `${(meterFraction(db) * 100).toFixed(1)}%`;
    meter.bar.dataset.zone = db >= -3 ? "clip" : db >= -12 ? "high" : "ok";
    meter.db.textContent =
      Number.isFinite(db) && db > -60 ? `${db.toFixed(0)} dB` : "—";
  }

  private playReturn(stream: MediaStream): void {
    if (this.context !== null) {
      this.meters.push(
        new LevelMeter(this.context, stream, (db) => {
          this.showLevel(this.returnMeter, db);
        }),
      );
    }
    if (!this.options.playOutput) return;
    this.audio.srcObject = stream;
    void this.audio.play().catch(() => {
      this.setNote("The browser blocked playback of the returned audio.");
    });
  }

  private showResult(result: ResultMessage): void {
    this.results.set(result.type, (this.results.get(result.type) ?? 0) + 1);
    if (result.type === "error") {
      const node = result.node ? `${result.node}: ` : "";
      this.transcript.textContent = `error in ${node}${result.message ?? ""}`;
    } else if (result.text !== undefined) {
      this.transcript.textContent = result.text;
    } else if (result.value !== undefined) {
      this.transcript.textContent = JSON.stringify(result.value).slice(0, 300);
    }
  }

  private async updateCounters(): Promise<void> {
    if (this.client === null) return;
    try {
      this.renderCounters(await this.client.counters());
    } catch {
      // The connection closed between two ticks.
    }
  }

  private renderCounters(
    counters: Awaited<ReturnType<RtcClient["counters"]>> | null,
  ): void {
    const parts: string[] = [];
    if (counters !== null) {
      const seconds = (performance.now() - this.startedAt) / 1000;
      parts.push(`${seconds.toFixed(0)} s`);
      parts.push(`sent ${counters.packetsSent} pkts`);
      parts.push(`back ${counters.packetsReceived} pkts`);
      if (counters.packetsLost > 0) parts.push(`lost ${counters.packetsLost}`);
      if (counters.rttMs !== null) parts.push(`rtt ${counters.rttMs.toFixed(0)} ms`);
    }
    const results = [...this.results.entries()].map(([type, n]) => `${type} ${n}`);
    parts.push(`results: ${results.length ? results.join(", ") : "0"}`);
    this.countersLine.textContent = parts.join(" · ");
  }

  private async refreshDevices(): Promise<void> {
    const chosen = this.device.value;
    const devices = await listMicrophones().catch((): MediaDeviceInfo[] => []);
    this.device.replaceChildren();
    const fallback = document.createElement("option");
    fallback.value = "";
    fallback.textContent = "default microphone";
    this.device.appendChild(fallback);
    devices.forEach((device, index) => {
      if (device.deviceId === "" || device.deviceId === "default") return;
      const option = document.createElement("option");
      option.value = device.deviceId;
      option.textContent = device.label || `microphone ${index + 1}`;
      this.device.appendChild(option);
    });
    if ([...this.device.options].some((option) => option.value === chosen)) {
      this.device.value = chosen;
    }
  }

  private setState(state: LiveState, message = ""): void {
    this.state = state;
    if (state !== "disconnected" || message) this.error = message;
    const running =
      state === "starting" || state === "connecting" || state === "connected";
    window.clearTimeout(this.graceTimer);
    if (state === "disconnected") {
      this.graceTimer = window.setTimeout(() => {
        if (this.state === "disconnected") {
          this.stop(`${this.error} Press Start to try again.`);
        }
      }, DISCONNECTED_GRACE_MS);
    }
    this.stateBadge.dataset.state = state;
    this.stateBadge.textContent = state;
    this.startButton.disabled = running || state === "disconnected";
    this.stopButton.disabled = !running && state !== "disconnected";
    this.device.disabled = running;
    this.errorBox.textContent = this.error;
    this.errorBox.hidden = this.error === "";
    if (state === "failed" && this.client !== null) {
      // ICE failed: release the devices; the message stays.
      this.teardown();
      this.options.onStop?.();
    }
    this.options.onState?.(state, this.error);
  }

  private teardown(): void {
    window.clearInterval(this.statsTimer);
    this.statsTimer = 0;
    window.clearTimeout(this.graceTimer);
    this.meters.forEach((meter) => {
      meter.stop();
    });
    this.meters = [];
    this.client?.close();
    this.client = null;
    stopStream(this.capture);
    this.capture = null;
    this.preview.srcObject = null;
    this.preview.hidden = true;
    this.audio.srcObject = null;
    void this.context?.close().catch(() => undefined);
    this.context = null;
    this.showLevel(this.micMeter, -Infinity);
    this.showLevel(this.returnMeter, -Infinity);
  }
}
