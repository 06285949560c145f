// Level meter: RMS of a stream in dBFS, sampled on a timer (timers keep running in
// hidden tabs and headless browsers, where requestAnimationFrame may not).

const FLOOR_DB = -60;

export class LevelMeter {
  private readonly source: MediaStreamAudioSourceNode;
  private readonly analyser: AnalyserNode;
  private readonly buffer: Float32Array<ArrayBuffer>;
  private readonly timer: number;
  /** Last level in dBFS (FLOOR_DB for silence). */
  level = FLOOR_DB;

  constructor(
    context: AudioContext,
    stream: MediaStream,
    onLevel: (db: number) => void,
    intervalMs = 50,
  ) {
    this.source = context.createMediaStreamSource(stream);
    this.analyser = context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.buffer = new Float32Array(this.analyser.fftSize);
    this.source.connect(this.analyser);
    this.timer = window.setInterval(() => {
      this.analyser.getFloatTimeDomainData(this.buffer);
      let sum = 0;
      for (const x of this.buffer) sum += x * x;
      const rms = Math.sqrt(sum / this.buffer.length);
      this.level = Math.max(FLOOR_DB, 20 * Math.log10(rms || 1e-9));
      onLevel(this.level);
    }, intervalMs);
  }

  stop(): void {
    window.clearInterval(this.timer);
    this.source.disconnect();
  }
}

/** Fraction of a meter bar for a level in dBFS. */
export function meterFraction(db: number): number {
  return Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
}
