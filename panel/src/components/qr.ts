import { create } from 'qrcode';

/** The quiet zone scanners need around a QR code, in modules (the standard's minimum). */
export const QR_MARGIN = 4;

/**
 * Encodes `text` as a QR code (the `qrcode` library) and returns its dark modules as one SVG path,
 * one row run per subpath, in module units. Drawn in the page, so the login link never goes to a
 * third-party QR service. Throws when the text is too long for a QR code.
 */
export function qrPath(text: string): { size: number; d: string } {
  const { modules } = create(text, { errorCorrectionLevel: 'M' });
  let d = '';
  for (let row = 0; row < modules.size; row++) {
    for (let col = 0; col < modules.size; ) {
      if (!modules.get(row, col)) {
        col++;
        continue;
      }
      const start = col;
      while (col < modules.size && modules.get(row, col)) col++;
      d += `M${start} ${row}h${col - start}v1h${start - col}z`;
    }
  }
  return { size: modules.size, d };
}
