/** The one interface both image stores (a local folder, Google Cloud Storage) implement. */

export interface StoredImage {
  /** The bytes, read as they are sent on: a download never holds a whole file in memory. */
  stream: ReadableStream<Uint8Array>;
  size: number;
  contentType: string;
  /** Opaque and unquoted; changes whenever the bytes do. */
  etag: string;
}

export interface ImageStore {
  /** Stores the bytes under an id that `imageIdPattern` accepts. */
  put(id: string, bytes: Uint8Array<ArrayBuffer>, contentType: string): Promise<void>;
  /** The image, or undefined when there is none with this id. Cancel the stream if it is not read. */
  open(id: string): Promise<StoredImage | undefined>;
  /** Whether there was an image to remove. */
  remove(id: string): Promise<boolean>;
  /** Fails when the store cannot be used (for readiness). */
  ping(): Promise<void>;
  /** Where the images live, for the start-up log. */
  description: string;
}
