/**
 * Gathers calls made while earlier ones are in flight into one batch, so that under load many
 * callers share one statement and one commit (one disk flush), while a call made when the batcher is
 * idle goes out at once. At most `inFlight` batches run at a time. A batch that fails is run again
 * one item at a time, in order, so an item the database refuses fails alone.
 */
export class Batcher<I, O> {
  private readonly queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private running = 0;

  constructor(
    private readonly opts: { inFlight: number; maxBatch: number },
    /** Runs a batch; resolves with one result per item, in order. */
    private readonly runBatch: (items: I[]) => Promise<O[]>,
  ) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.running < this.opts.inFlight) this.next();
    });
  }

  private next(): void {
    const batch = this.queue.splice(0, this.opts.maxBatch);
    if (batch.length === 0) return;
    this.running++;
    void this.settle(batch).finally(() => {
      this.running--;
      this.next();
    });
  }

  private async settle(batch: typeof this.queue): Promise<void> {
    try {
      const out = await this.runBatch(batch.map((b) => b.item));
      if (out.length !== batch.length) throw new Error(`batch of ${batch.length} returned ${out.length} results`);
      batch.forEach((b, i) => b.resolve(out[i]!));
    } catch (err) {
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const b of batch) await this.settle([b]); // in order: the ids of one conversation follow the calls
    }
  }
}
