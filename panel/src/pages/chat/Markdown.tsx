import type { ReactNode } from 'react';

/**
 * A deliberately small markdown renderer for agent replies: paragraphs, line breaks, "- " lists,
 * fenced code blocks, **bold**, `code` and [links](https://…). It builds React elements only, so
 * the agent's text is never parsed as HTML (no dangerouslySetInnerHTML).
 */
export function Markdown({ text }: { text: string }) {
  return <div className="chat-md">{blocks(text)}</div>;
}

type Block = { kind: 'code'; lang: string; text: string } | { kind: 'list'; items: string[] } | { kind: 'para'; text: string };

function parseBlocks(text: string): Block[] {
  const out: Block[] = [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let para: string[] = [];
  const flush = () => {
    if (para.length === 0) return;
    const isList = para.every((l) => /^\s*[-*] /.test(l));
    out.push(isList ? { kind: 'list', items: para.map((l) => l.replace(/^\s*[-*] /, '')) } : { kind: 'para', text: para.join('\n') });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^\s*```(\S*)\s*$/.exec(line);
    if (fence) {
      flush();
      const code: string[] = [];
      // An unclosed fence runs to the end (a reply still streaming in, or a truncated one).
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) code.push(lines[i]!);
      out.push({ kind: 'code', lang: fence[1] ?? '', text: code.join('\n') });
    } else if (line.trim() === '') {
      flush();
    } else {
      para.push(line);
    }
  }
  flush();
  return out;
}

function blocks(text: string): ReactNode[] {
  return parseBlocks(text).map((b, i) => {
    if (b.kind === 'code') {
      return (
        <pre key={i} className="chat-md-code" data-lang={b.lang || undefined}>
          <code>{b.text}</code>
        </pre>
      );
    }
    if (b.kind === 'list') {
      return (
        <ul key={i}>
          {b.items.map((item, j) => (
            <li key={j}>{inline(item)}</li>
          ))}
        </ul>
      );
    }
    return <p key={i}>{withBreaks(b.text)}</p>;
  });
}

function withBreaks(text: string): ReactNode[] {
  return text.split('\n').flatMap((line, i) => (i === 0 ? [inline(line, `l${i}`)] : [<br key={`b${i}`} />, inline(line, `l${i}`)]));
}

/** `code` first (nothing inside it is markup), then **bold** and [text](url). */
const INLINE = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;

function inline(text: string, keyPrefix = 'i'): ReactNode {
  const parts: ReactNode[] = [];
  let last = 0;
  let n = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    const key = `${keyPrefix}-${n++}`;
    if (m[1] !== undefined) parts.push(<code key={key}>{m[1]}</code>);
    else if (m[2] !== undefined) parts.push(<strong key={key}>{m[2]}</strong>);
    else parts.push(link(m[3]!, m[4]!, key));
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return <span key={keyPrefix}>{parts}</span>;
}

/** Only http(s) and mailto links become anchors: a "javascript:" URL stays plain text. */
function link(label: string, url: string, key: string): ReactNode {
  if (!/^(https?:\/\/|mailto:)/i.test(url)) return `[${label}](${url})`;
  return (
    <a key={key} href={url} target="_blank" rel="noopener noreferrer nofollow">
      {label}
    </a>
  );
}
