import { useMemo } from 'react';
import { QR_MARGIN, qrPath } from './qr';

/**
 * A QR code as inline SVG, black on white whatever the theme (scanners want the contrast), with
 * role=img and a label for screen readers. Shows the reason instead when the text cannot be encoded.
 */
export function QrCode({ text, label, size = 232 }: { text: string; label: string; size?: number }) {
  const qr = useMemo(() => {
    try {
      return qrPath(text);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }, [text]);
  if (typeof qr === 'string') return <p className="field-error">Cannot draw the QR code: {qr}</p>;
  const box = qr.size + 2 * QR_MARGIN;
  return (
    <svg className="qr-code" role="img" aria-label={label} width={size} height={size} viewBox={`${-QR_MARGIN} ${-QR_MARGIN} ${box} ${box}`} shapeRendering="crispEdges">
      <rect x={-QR_MARGIN} y={-QR_MARGIN} width={box} height={box} fill="#fff" />
      <path d={qr.d} fill="#000" />
    </svg>
  );
}
