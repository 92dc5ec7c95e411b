import { MAX_REPLY_IMAGES } from '../core/media.js';
import type { ReplyImage } from '../core/message.js';

/** `![alt](https://… "title"?)`: an image a model links in its markdown. */
const IMAGE = /!\[([^\]\n]*)\]\(\s*<?(https?:\/\/[^\s)>]+)>?(?:\s+"[^"\n]*")?\s*\)/g;
/** Fenced code blocks, whose contents are text, not markdown. */
const FENCE = /^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[ \t]*$/gm;

/**
 * Takes the images a model linked in its answer (`![alt](https://…)`, outside code blocks, at most
 * MAX_REPLY_IMAGES) out of the text, to be sent as images of their own. The text keeps the rest,
 * with the blank lines the links leave behind folded; links past the limit stay in it.
 */
export function takeMarkdownImages(text: string): { text: string; images: ReplyImage[] } {
  const fenced: [number, number][] = [...text.matchAll(FENCE)].map((m) => [m.index, m.index + m[0].length]);
  const inFence = (at: number) => fenced.some(([from, to]) => at >= from && at < to);
  const images: ReplyImage[] = [];
  const rest = text.replace(IMAGE, (whole, alt: string, url: string, at: number) => {
    if (inFence(at) || images.length >= MAX_REPLY_IMAGES) return whole;
    images.push(alt.trim() ? { url, alt: alt.trim() } : { url });
    return '';
  });
  if (images.length === 0) return { text, images };
  return { text: rest.replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim(), images };
}
