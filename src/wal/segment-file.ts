// The open, append-only segment: positional writes at a size we track
// ourselves, so a failed partial write can never be followed by a write at a
// surprising offset (and the WAL is failed after any error anyway).
import { writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

const SEGMENT_FILE_MODE = 0o600;

export class SegmentFile {
  readonly path: string;
  #handle: FileHandle;
  #sizeBytes: number;

  private constructor(path: string, handle: FileHandle, sizeBytes: number) {
    this.path = path;
    this.#handle = handle;
    this.#sizeBytes = sizeBytes;
  }

  /** Creates a new, empty segment; fails if the file already exists. */
  static async create(path: string): Promise<SegmentFile> {
    return new SegmentFile(path, await open(path, "wx", SEGMENT_FILE_MODE), 0);
  }

  /** Opens an existing segment for appending after its first `validEndBytes`, cutting anything beyond. */
  static async openForAppend(path: string, validEndBytes: number): Promise<SegmentFile> {
    const handle = await open(path, "r+");
    try {
      const { size } = await handle.stat();
      if (size !== validEndBytes) {
        if (size < validEndBytes) throw new Error(`${path} shrank to ${size} bytes while being opened (expected ${validEndBytes})`);
        await handle.truncate(validEndBytes);
        // fsync rather than fdatasync: the truncation is a metadata change.
        await handle.sync();
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new SegmentFile(path, handle, validEndBytes);
  }

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /**
   * Writes at the end of the segment. Synchronous: a write to the page cache is a memory copy, and
   * handing it to the I/O pool costs a thread round trip per batch (measured: CPU per put within
   * noise either way); the fdatasync that follows is the part worth taking off the event loop.
   */
  write(bytes: Uint8Array): void {
    let writtenBytes = 0;
    // Loop because write(2) may be partial; normally this is a single call.
    while (writtenBytes < bytes.length) {
      const bytesWritten = writeSync(this.#handle.fd, bytes, writtenBytes, bytes.length - writtenBytes, this.#sizeBytes + writtenBytes);
      if (bytesWritten <= 0) throw new Error(`write to ${this.path} made no progress`);
      writtenBytes += bytesWritten;
    }
    this.#sizeBytes += writtenBytes;
  }

  async datasync(): Promise<void> {
    await this.#handle.datasync();
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
