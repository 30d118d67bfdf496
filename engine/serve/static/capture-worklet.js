// The microphone as 20 ms frames in the call's input format: PCM16 little-endian, or G.711 μ-law.
// The AudioContext runs at the session rate, so no resampling happens here.
function muLaw(sample) {
  // ITU-T G.711 μ-law encoding of one 16-bit sample.
  const BIAS = 0x84, CLIP = 32635;
  let sign = (sample >> 8) & 0x80;
  if (sign) sample = -sample;
  if (sample > CLIP) sample = CLIP;
  sample += BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (sample & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (sample >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

class Capture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.codec = options.processorOptions.codec;
    this.frame = Math.round(sampleRate / 50);
    this.samples = new Int16Array(this.frame);
    this.filled = 0;
    this.muted = !!options.processorOptions.muted;
    this.port.onmessage = (e) => { if ("muted" in e.data) this.muted = e.data.muted; };
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    for (let i = 0; i < channel.length; i++) {
      const s = this.muted ? 0 : Math.max(-1, Math.min(1, channel[i]));
      this.samples[this.filled++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.filled === this.frame) this.flush();
    }
    return true;
  }

  flush() {
    const pcm = this.samples.slice(0, this.filled);
    this.filled = 0;
    let level = 0;
    for (let i = 0; i < pcm.length; i++) level = Math.max(level, Math.abs(pcm[i]));
    let bytes;
    if (this.codec === "g711_ulaw") {
      bytes = new Uint8Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) bytes[i] = muLaw(pcm[i]);
    } else {
      bytes = new Uint8Array(pcm.buffer);
    }
    this.port.postMessage({ bytes: bytes.buffer, pcm: pcm.buffer, level: level / 32768 }, [bytes.buffer]);
  }
}

registerProcessor("engine-capture", Capture);
