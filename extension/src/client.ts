// The WebRTC client both front ends use: one RTCPeerConnection that sends the capture,
// receives the processed audio and the results, and reports its state.
import { RESULTS_CHANNEL, toResult } from "./protocol";
import type { Description, ResultMessage } from "./protocol";

/** Exchanges our offer for the other side's answer (comm channel or POST /offer). */
export type Signaller = (offer: Description) => Promise<Description>;

export type LiveState =
  | "idle"
  | "starting"
  | "connecting"
  | "connected"
  | "disconnected"
  | "failed"
  | "stopped";

export interface ClientHandlers {
  onState: (state: LiveState, message?: string) => void;
  onRemoteStream: (stream: MediaStream) => void;
  onResult: (result: ResultMessage) => void;
}

/** What `RtcClient.counters()` reads from `getStats()`. */
export interface Counters {
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  rttMs: number | null;
}

// Loopback and LAN candidates gather in milliseconds; do not wait forever on a
// machine whose interfaces are slow to answer: send what we have.
const GATHER_TIMEOUT_MS = 3000;

export const ICE_FAILED =
  "The connection failed (ICE): the other side could not be reached over UDP, " +
  "or it stopped. Press Start to try again.";
export const INTERRUPTED =
  "Connection interrupted: the other side stopped answering (kernel restarted, " +
  "server gone or network lost?).";

export class RtcClient {
  private readonly pc: RTCPeerConnection;
  private closed = false;

  constructor(private readonly handlers: ClientHandlers) {
    // No STUN/TURN: host candidates only (the kernel or server is local or on the LAN).
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.pc.addEventListener("connectionstatechange", () => {
      this.reportState();
    });
    this.pc.addEventListener("track", (event) => {
      if (event.track.kind !== "audio") return;
      const [stream] = event.streams;
      handlers.onRemoteStream(stream ?? new MediaStream([event.track]));
    });
  }

  /** Sends `capture`, negotiates through `signal`; resolves once the answer is set. */
  async connect(capture: MediaStream, signal: Signaller): Promise<void> {
    const [audio] = capture.getAudioTracks();
    if (audio === undefined) throw new Error("the capture has no audio track");
    // sendrecv: the processed audio comes back on the same transceiver.
    this.pc.addTransceiver(audio, { direction: "sendrecv", streams: [capture] });
    for (const track of capture.getVideoTracks()) {
      this.pc.addTransceiver(track, { direction: "sendonly", streams: [capture] });
    }
    // The browser opens the results channel, so the offer carries SCTP.
    const channel = this.pc.createDataChannel(RESULTS_CHANNEL, { ordered: true });
    channel.addEventListener("message", (event: MessageEvent<unknown>) => {
      if (typeof event.data !== "string") return;
      try {
        this.handlers.onResult(toResult(JSON.parse(event.data)));
      } catch {
        this.handlers.onResult({ type: "text", text: event.data });
      }
    });
    this.handlers.onState("connecting");
    await this.pc.setLocalDescription(await this.pc.createOffer());
    // aiortc takes no trickled candidates: send them all in the offer.
    await this.gatheringComplete();
    const local = this.pc.localDescription;
    if (local === null) throw new Error("no local description after createOffer");
    const answer = await signal({ sdp: local.sdp, type: local.type });
    if (this.pc.signalingState === "closed") return; // stopped while waiting
    if (answer.type !== "answer" || !answer.sdp) {
      throw new Error(`the other side sent no answer (got type ${answer.type})`);
    }
    await this.pc.setRemoteDescription({ sdp: answer.sdp, type: "answer" });
  }

  /** Packet counters and round-trip time of the audio path. */
  async counters(): Promise<Counters> {
    const counters: Counters = {
      packetsSent: 0,
      packetsReceived: 0,
      packetsLost: 0,
      rttMs: null,
    };
    const report = await this.pc.getStats();
    report.forEach((entry: Record<string, unknown>) => {
      const num = (key: string): number => {
        const value = entry[key];
        return typeof value === "number" ? value : 0;
      };
      if (entry.type === "outbound-rtp" && entry.kind === "audio") {
        counters.packetsSent += num("packetsSent");
      } else if (entry.type === "inbound-rtp" && entry.kind === "audio") {
        counters.packetsReceived += num("packetsReceived");
        counters.packetsLost += num("packetsLost");
      } else if (entry.type === "candidate-pair" && entry.nominated === true) {
        const rtt = entry.currentRoundTripTime;
        if (typeof rtt === "number") counters.rttMs = rtt * 1000;
      }
    });
    return counters;
  }

  close(): void {
    this.closed = true;
    this.pc.close();
  }

  private reportState(): void {
    if (this.closed) return;
    switch (this.pc.connectionState) {
      case "connected":
        this.handlers.onState("connected");
        break;
      case "disconnected":
        this.handlers.onState("disconnected", INTERRUPTED);
        break;
      case "failed":
        this.handlers.onState("failed", ICE_FAILED);
        break;
      case "closed":
        this.handlers.onState("stopped");
        break;
      default:
        break;
    }
  }

  private gatheringComplete(): Promise<void> {
    if (this.pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        window.clearTimeout(timer);
        this.pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = (): void => {
        if (this.pc.iceGatheringState === "complete") done();
      };
      const timer = window.setTimeout(done, GATHER_TIMEOUT_MS);
      this.pc.addEventListener("icegatheringstatechange", check);
    });
  }
}
