// The kinds of media a page can protect, each with the function that fingerprints a file in the
// browser and the signals a case stores for it. A new kind is one more entry here: the picker,
// the worker and the pages do not change.

import { hashImageFile, signalsOfRecord } from "./hashing.js";
import { hashVideoFile, looksLikeVideo, signalsOfVideoRecord } from "./video.js";

/**
 * Each hasher: `name`, `accept` (for the file input), `claims(file)` (true when this hasher is
 * for the file), `hash(file, {onProgress})` (Promise of a record, throwing ImageHashError-like
 * errors with a `type` and a `message`; `onProgress(fraction)` may be called while it works),
 * `signals(record)` (the wire signals) and `describe(record)` (a few facts to show, never sent;
 * `thumbnail`, a Blob, replaces the preview when the file itself cannot be shown as an image).
 */
export const HASHERS = [
  {
    name: "video",
    accept: "video/*,.mkv,.webm,.mov,.m4v,.3gp",
    claims: (file) => looksLikeVideo(file),
    hash: (file, { onProgress } = {}) => hashVideoFile(file, { onProgress }),
    signals: (record) => signalsOfVideoRecord(record),
    describe: (record) => ({
      width: record.width,
      height: record.height,
      format: record.format,
      duration: record.duration,
      frames: record.vpdq.length,
      thumbnail: record.thumbnail,
    }),
  },
  {
    name: "image",
    accept: "image/*",
    claims: () => true, // The fallback: it recognises images by their bytes, not their name.
    // With the regional signature, which catches derivatives that keep the face and background.
    hash: (file) => hashImageFile(file, {}, { regions: true }),
    signals: (record) => signalsOfRecord(record),
    describe: (record) => ({ width: record.width, height: record.height, format: record.format }),
  },
];

/** The hasher for a file: the first that claims it. */
export function hasherFor(file) {
  return HASHERS.find((hasher) => hasher.claims(file));
}

/** The `accept` attribute for file inputs. */
export const ACCEPT = HASHERS.map((hasher) => hasher.accept).join(",");
