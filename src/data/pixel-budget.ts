/**
 * A weighted semaphore over pixels: decoders take as many units as the image has pixels and
 * wait while the pixels being decoded at once would exceed the budget, which bounds the memory
 * that concurrent decoding holds. A request larger than the whole budget takes all of it.
 */
export class PixelBudget {
  private inUse = 0;
  private readonly waiting: { units: number; go: () => void }[] = [];

  constructor(
    /** Pixels that may be decoded at once. */
    public capacity: number,
  ) {}

  /** Runs `work` once `pixels` units (at most the whole budget) are free, and frees them after. */
  async run<T>(pixels: number, work: () => Promise<T>): Promise<T> {
    const units = Math.max(1, Math.min(pixels, this.capacity));
    if (this.waiting.length > 0 || this.inUse + units > this.capacity) {
      await new Promise<void>((go) => this.waiting.push({ units, go }));
    } else {
      this.inUse += units;
    }
    try {
      return await work();
    } finally {
      this.inUse -= units;
      this.wake();
    }
  }

  /** Pixels held now. */
  get held(): number {
    return this.inUse;
  }

  /** Starts waiting requests in order while they fit. */
  private wake(): void {
    while (this.waiting.length > 0 && this.inUse + Math.min(this.waiting[0]!.units, this.capacity) <= this.capacity) {
      const next = this.waiting.shift()!;
      this.inUse += Math.min(next.units, this.capacity);
      next.go();
    }
  }
}
