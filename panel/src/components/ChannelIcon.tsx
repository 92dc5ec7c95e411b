import type { ReactNode } from 'react';

/** Glyphs drawn on a 24×24 grid in white, over the channel's colour. Our own shapes, not the platforms' logos. */
const GLYPHS: Record<string, { color: string; glyph: ReactNode }> = {
  web_api: {
    color: '#2563eb',
    glyph: <path d="M9 7.5 5.5 12 9 16.5M15 7.5l3.5 4.5-3.5 4.5M13 6.5l-2 11" fill="none" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />,
  },
  wechat_mp: {
    color: '#16a34a',
    glyph: (
      <g fill="#fff">
        <path d="M10 5.5c-3.3 0-6 2.2-6 5 0 1.5.8 2.9 2.1 3.8L5.6 16.5l2.5-1.3c.6.2 1.2.3 1.9.3h.4a4.6 4.6 0 0 1-.2-1.3c0-2.9 2.7-5.2 6.2-5.2h.3C16 6.9 13.3 5.5 10 5.5Z" />
        <path d="M16.4 10c-2.7 0-4.9 1.8-4.9 4s2.2 4 4.9 4c.5 0 1-.1 1.5-.2l2 1-.5-1.7c1.1-.7 1.8-1.8 1.8-3.1 0-2.2-2.2-4-4.8-4Z" opacity=".85" />
      </g>
    ),
  },
  feishu: {
    color: '#0891b2',
    glyph: <path d="M5 12.5 18.5 6l-3.2 12-4-3.6-2.6 2.6v-4.1L15 8.2 7.9 13.4 5 12.5Z" fill="#fff" />,
  },
  wecom: {
    color: '#1d4ed8',
    glyph: (
      <g fill="none" stroke="#fff" strokeWidth="1.7" strokeLinejoin="round">
        <path d="M5 11c0-3 3-5.5 7-5.5s7 2.5 7 5.5-3 5.5-7 5.5c-.8 0-1.6-.1-2.3-.3L6.5 18l.7-2.6C5.8 14.4 5 12.8 5 11Z" />
        <circle cx="9.5" cy="11" r=".6" fill="#fff" />
        <circle cx="14.5" cy="11" r=".6" fill="#fff" />
      </g>
    ),
  },
  wecom_bot: {
    color: '#7c3aed',
    glyph: (
      <g fill="none" stroke="#fff" strokeWidth="1.7" strokeLinecap="round">
        <rect x="5.5" y="8.5" width="13" height="9.5" rx="2.5" />
        <path d="M12 8.5V6M12 5.2v.1M9.5 13v.1M14.5 13v.1M3.5 12.5v2M20.5 12.5v2" />
      </g>
    ),
  },
};

const GENERIC = {
  color: '#64748b',
  glyph: <path d="M9 5v4M15 5v4M7 9h10v3a5 5 0 0 1-10 0V9ZM12 17v3" fill="none" stroke="#fff" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round" />,
};

/** The channel type's icon; decorative when the name is written next to it, else labelled. */
export function ChannelIcon({ channel, size = 28, label }: { channel: string; size?: number; label?: string }) {
  const { color, glyph } = GLYPHS[channel] ?? GENERIC;
  const a11y = label ? { role: 'img', 'aria-label': label } : { 'aria-hidden': true as const };
  return (
    <svg className="channel-icon" width={size} height={size} viewBox="0 0 24 24" {...a11y}>
      <rect width="24" height="24" rx="6" fill={color} />
      {glyph}
    </svg>
  );
}
