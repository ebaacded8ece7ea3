/**
 * Decoding HTTP bodies as text, shared by stackful/http (responses) and
 * stackful/server (requests).
 */

/** `bytes` decoded with the charset of `contentType` (UTF-8 when it names none, or one TextDecoder does not know). */
export function decodeWithCharset(bytes: Uint8Array, contentType: string | undefined): string {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '')?.[1];
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? 'utf-8');
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  return decoder.decode(bytes);
}
