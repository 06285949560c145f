// Capture: getUserMedia with the browser's voice processing off, device listing and
// error messages a person can act on.

export interface CaptureOptions {
  audioDeviceId?: string;
  video: boolean;
}

/** A capture failure with a message fit for the widget. */
export class MediaAccessError extends Error {
  constructor(
    message: string,
    readonly reason: "permission" | "no-device" | "busy" | "insecure" | "other",
  ) {
    super(message);
    this.name = "MediaAccessError";
  }
}

/** `navigator.mediaDevices`, which is absent outside secure contexts. */
export function maybeMediaDevices(): MediaDevices | undefined {
  return "mediaDevices" in navigator ? navigator.mediaDevices : undefined;
}

function mediaDevices(): MediaDevices {
  const devices = maybeMediaDevices();
  if (devices === undefined) {
    throw new MediaAccessError(
      "This page cannot use the microphone: it needs a secure context " +
        "(https, or http on localhost/127.0.0.1).",
      "insecure",
    );
  }
  return devices;
}

/** Opens the microphone (and camera). Raw audio: analysis wants no voice processing. */
export async function openCapture(options: CaptureOptions): Promise<MediaStream> {
  const audio: MediaTrackConstraints = {
    echoCancellation: false,
    noiseSuppression: false,
    autoGainControl: false,
    channelCount: 1,
  };
  if (options.audioDeviceId) audio.deviceId = { exact: options.audioDeviceId };
  const what = options.video ? "microphone or camera" : "microphone";
  try {
    return await mediaDevices().getUserMedia({ audio, video: options.video });
  } catch (error) {
    if (error instanceof MediaAccessError) throw error;
    const name = error instanceof Error ? error.name : "";
    const detail = error instanceof Error ? error.message : String(error);
    switch (name) {
      case "NotAllowedError":
      case "SecurityError":
        throw new MediaAccessError(
          `Permission to use the ${what} was denied: allow it in the browser's ` +
            "site settings, then press Start again.",
          "permission",
        );
      case "NotFoundError":
      case "OverconstrainedError":
        throw new MediaAccessError(
          `No ${what} found: plug one in (or pick another device) and press Start.`,
          "no-device",
        );
      case "NotReadableError":
      case "AbortError":
        throw new MediaAccessError(
          `The ${what} is busy or failed to start (${detail}).`,
          "busy",
        );
      default:
        throw new MediaAccessError(`Could not open the ${what}: ${detail}`, "other");
    }
  }
}

/** Audio inputs; labels are empty until the page has been granted access once. */
export async function listMicrophones(): Promise<MediaDeviceInfo[]> {
  const devices = maybeMediaDevices();
  if (devices === undefined) return [];
  const all = await devices.enumerateDevices();
  return all.filter((device) => device.kind === "audioinput");
}

/** Stops every track of `stream` (releases the device; the browser's dot goes out). */
export function stopStream(stream: MediaStream | null): void {
  stream?.getTracks().forEach((track) => {
    track.stop();
  });
}
