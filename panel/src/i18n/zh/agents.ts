import type en from '../en/agents';
import type { Catalog } from '../catalog';

/** 中文 texts of the panel's agents part: the same keys as en/agents.ts. */
export default {} satisfies Catalog<typeof en>;
