/** Small inline icons (no icon font, no third-party host). Decorative: the text next to them names the action. */

export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true" className="logo">
      <rect width="32" height="32" rx="8" fill="var(--accent)" />
      <path d="M8 10.5 9.5 5l4.2 3.6a10 10 0 0 1 4.6 0L22.5 5 24 10.5c1.3 1.6 2 3.5 2 5.5 0 5.5-4.5 9-10 9s-10-3.5-10-9c0-2 .7-3.9 2-5.5Z" fill="#fff" />
      <circle cx="12.5" cy="16" r="1.5" fill="var(--accent)" />
      <circle cx="19.5" cy="16" r="1.5" fill="var(--accent)" />
      <path d="M14.5 20c.8.7 2.2.7 3 0" stroke="var(--accent)" strokeWidth="1.4" fill="none" strokeLinecap="round" />
    </svg>
  );
}

export function MenuIcon() {
  return (
    <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
      <path d="M4 7h16M4 12h16M4 17h16" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
    </svg>
  );
}

export function PlusIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true">
      <path d="M12 5v14M5 12h14" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round" />
    </svg>
  );
}

export function ImageIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
      <rect x="3" y="4" width="18" height="16" rx="2.5" stroke="currentColor" strokeWidth="2" fill="none" />
      <circle cx="8.5" cy="9.5" r="1.8" fill="currentColor" />
      <path d="m4 18 5.5-5.5 4 4 2.5-2.5L20 18" stroke="currentColor" strokeWidth="2" fill="none" strokeLinejoin="round" />
    </svg>
  );
}
