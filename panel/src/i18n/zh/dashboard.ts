import type en from '../en/dashboard';
import type { Catalog } from '../catalog';

/** 中文 texts of the panel's dashboard part: the same keys as en/dashboard.ts. */
export default {} satisfies Catalog<typeof en>;
