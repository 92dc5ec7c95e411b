import { describe, expect, it } from 'vitest';
import { takeMarkdownImages } from '../../src/agents/markdown-images.js';
import { MAX_REPLY_IMAGES } from '../../src/core/media.js';

describe('takeMarkdownImages', () => {
  it('takes linked images out of the text, with their alt text, and folds the lines they leave', () => {
    const text = 'Here is the chart:\n\n![Sales 2026](https://cdn.example.com/s.png?sig=1 "Q1–Q4")\n\nand a photo ![](http://img.example.com/p.jpg) inline.';
    expect(takeMarkdownImages(text)).toEqual({
      text: 'Here is the chart:\n\nand a photo  inline.',
      images: [{ url: 'https://cdn.example.com/s.png?sig=1', alt: 'Sales 2026' }, { url: 'http://img.example.com/p.jpg' }],
    });
  });

  it('leaves links, other schemes, code and text without images alone', () => {
    const text = 'See [the docs](https://x.example/a.png), ![local](./a.png), ![data](data:image/png;base64,AAAA).\n\n```md\n![in code](https://x.example/c.png)\n```';
    expect(takeMarkdownImages(text)).toEqual({ text, images: [] });
    expect(takeMarkdownImages('plain')).toEqual({ text: 'plain', images: [] });
  });

  it(`takes at most ${MAX_REPLY_IMAGES}; the rest stay links in the text`, () => {
    const links = Array.from({ length: MAX_REPLY_IMAGES + 1 }, (_, i) => `![${i}](https://x.example/${i}.png)`);
    const { text, images } = takeMarkdownImages(links.join('\n'));
    expect(images.map((i) => ('url' in i ? i.url : ''))).toEqual(links.slice(0, MAX_REPLY_IMAGES).map((_, i) => `https://x.example/${i}.png`));
    expect(text).toBe(links[MAX_REPLY_IMAGES]);
  });
});
