// Shares time among senders first and among each sender's activities by weight second: at each
// instant every sender with an activity running gets 1 / (active senders) of the time, split among
// its own activities by weight. So 1,000 overlapping spans of one client take one client's share,
// not 1,000 / 1,001 of the device. Kept O(1) per event: a global integral H of rate / activeSenders,
// and per sender G = integral of dH / senderWeight, brought up to date only when that sender's
// weight changes (it is constant in between).

/** Total weights below this are float residue of activities that ended. */
const PRESENT_WEIGHT = 1e-12;

export class SenderShares {
  readonly #channels: number;
  readonly #weight: Float64Array;
  readonly #integral: Float64Array;
  /** H of each channel when each sender's integral was last brought up to date. */
  readonly #mark: Float64Array;
  readonly #total: Float64Array;
  #activeSenders = 0;

  /** `senders` ids 0..senders-1; `channels` integrals kept side by side (e.g. seconds and joules). */
  constructor(senders: number, channels: number) {
    this.#channels = channels;
    this.#weight = new Float64Array(senders);
    this.#integral = new Float64Array(senders * channels);
    this.#mark = new Float64Array(senders * channels);
    this.#total = new Float64Array(channels);
  }

  get activeSenders(): number {
    return this.#activeSenders;
  }

  /** Passes a stretch of time worth `amounts` (one per channel), shared by the senders active in it. */
  advance(...amounts: number[]): void {
    if (this.#activeSenders === 0) return;
    for (let channel = 0; channel < this.#channels; channel++) this.#total[channel]! += amounts[channel]! / this.#activeSenders;
  }

  /** What one unit of weight of `sender` got so far, in `channel`. */
  integral(sender: number, channel: number): number {
    this.#catchUp(sender);
    return this.#integral[sender * this.#channels + channel]!;
  }

  /** Adds (or, negative, removes) an activity's weight of `sender`. */
  change(sender: number, weightDelta: number): void {
    this.#catchUp(sender);
    const wasPresent = this.#weight[sender]! > PRESENT_WEIGHT;
    this.#weight[sender]! += weightDelta;
    const isPresent = this.#weight[sender]! > PRESENT_WEIGHT;
    if (isPresent && !wasPresent) this.#activeSenders++;
    if (wasPresent && !isPresent) this.#activeSenders--;
  }

  #catchUp(sender: number): void {
    const weight = this.#weight[sender]!;
    for (let channel = 0; channel < this.#channels; channel++) {
      const at = sender * this.#channels + channel;
      if (weight > PRESENT_WEIGHT) this.#integral[at]! += (this.#total[channel]! - this.#mark[at]!) / weight;
      this.#mark[at] = this.#total[channel]!;
    }
  }
}

/** Small integer ids for sender keys; every activity without one is one anonymous sender (id 0). */
export class SenderIds {
  readonly #ids = new Map<string, number>();

  idOf(senderKey: string | undefined): number {
    if (senderKey === undefined) return 0;
    let id = this.#ids.get(senderKey);
    if (id === undefined) {
      id = this.#ids.size + 1;
      this.#ids.set(senderKey, id);
    }
    return id;
  }

  get count(): number {
    return this.#ids.size + 1;
  }
}

/** Sorts event indices 0..2n-1 by time: index i < n is column i's start (`fromMs[i]`), n + i its end. */
export function eventOrder(count: number, fromMs: Float64Array, toMs: Float64Array): Uint32Array {
  const timeOf = (event: number) => (event < count ? fromMs[event]! : toMs[event - count]!);
  const order = new Uint32Array(count * 2);
  for (let event = 0; event < order.length; event++) order[event] = event;
  return order.sort((a, b) => timeOf(a) - timeOf(b));
}
