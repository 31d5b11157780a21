/** A count of things under way, with a promise for the moment it is back at zero (no polling). */
export class Gauge {
  private count = 0;
  private waiters: Array<() => void> = [];

  get value(): number {
    return this.count;
  }

  add(n = 1): void {
    this.count += n;
  }

  remove(n = 1): void {
    this.count = Math.max(0, this.count - n);
    if (this.count > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Resolves true once nothing is under way, or false when `ms` pass first. */
  idle(ms: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, ms);
      this.waiters.push(wake);
    });
  }
}
