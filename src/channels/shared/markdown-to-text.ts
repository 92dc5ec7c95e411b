/**
 * Turns a markdown reply into readable plain text for platforms that show markdown as raw symbols.
 * Code stays as written (fences dropped, content kept), snake_case and file_names stay intact
 * (emphasis is removed only when its markers stand at word boundaries), links keep their address.
 */
export function markdownToText(markdown: string): string {
  const out: string[] = [];
  let inFence = false;
  for (const line of markdown.replace(/\r\n?/g, '\n').split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      inFence = !inFence;
      continue;
    }
    if (inFence) {
      out.push(line);
      continue;
    }
    if (TABLE_SEPARATOR.test(line) || SHORT_TABLE_SEPARATOR(line)) continue;
    out.push(convertLine(line));
  }
  return out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const TABLE_SEPARATOR = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
const BULLET = /^(\s*)[-*+]\s+/;
/** Delimiter rows with fewer than three dashes per cell (`|-|:-:|`), which GFM accepts too. */
const SHORT_TABLE_SEPARATOR = (line: string) => line.includes('|') && line.includes('-') && /^[ \t|:-]+$/.test(line);
const QUOTE = /^\s{0,3}>\s?/;

function convertLine(line: string): string {
  if (RULE.test(line)) return '';
  const heading = HEADING.exec(line);
  let text = heading ? heading[1]! : line.replace(QUOTE, '');
  text = text.replace(BULLET, '$1• ');
  if (/^\s*\|.*\|\s*$/.test(text)) {
    text = text
      .trim()
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim())
      .join('  |  ');
  }
  return inline(text);
}

/** Inline markup outside code spans; code spans keep their content verbatim. */
function inline(text: string): string {
  return text
    .split(/(`+[^`]*`+)/)
    .map((part, i) => (i % 2 === 1 ? part.replace(/^`+|`+$/g, '') : inlineOutsideCode(part)))
    .join('');
}

function inlineOutsideCode(text: string): string {
  return text
    .replace(/!\[([^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (_m, alt: string, url: string) => (alt ? `${alt} (${url})` : url))
    .replace(/\[([^\]]+)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g, (_m, label: string, url: string) => (label === url ? url : `${label} (${url})`))
    .replace(/(^|[^\w*])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w*])/g, '$1$2')
    .replace(/(^|[^\w_])__(?=\S)(.+?)(?<=\S)__(?![\w_])/g, '$1$2')
    .replace(/(^|[^\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])/g, '$1$2')
    .replace(/(^|[^\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])/g, '$1$2')
    .replace(/~~(?=\S)(.+?)(?<=\S)~~/g, '$1');
}
