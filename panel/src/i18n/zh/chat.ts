import type en from '../en/chat';
import type { Catalog } from '../catalog';

/** 中文 texts of the panel's chat part: the same keys as en/chat.ts. */
export default {} satisfies Catalog<typeof en>;
