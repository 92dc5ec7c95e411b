import type en from '../en/login';
import type { Catalog } from '../catalog';

/** 中文 texts of the panel's login part: the same keys as en/login.ts. */
export default {} satisfies Catalog<typeof en>;
