import type en from '../en/messages';
import type { Catalog } from '../catalog';

/** 中文 texts of the panel's messages part: the same keys as en/messages.ts. */
export default {} satisfies Catalog<typeof en>;
