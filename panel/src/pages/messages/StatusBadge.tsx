/** A message or reply status as a coloured word (the word itself carries the meaning, not the colour). */
export function StatusBadge({ status }: { status: string }) {
  return <span className={`msg-badge msg-badge-${status}`}>{status}</span>;
}
