import type en from '../en/login.js';
import type { Catalog } from '../catalog.js';

/** 中文 texts of the panel's login part: the same keys as en/login.ts. */
export default {
  unreachable: '无法连接网关，请确认它正在运行。',
  help: '请使用网关的管理员令牌登录（网关启动时会打印，也可通过 COCOCAT_ADMIN_TOKEN 设置），或使用你的值班员令牌登录。',
  token: '管理员令牌',
  submit: '登录',
} satisfies Catalog<typeof en>;
