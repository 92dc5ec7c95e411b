/** English texts of the panel's agents part. Keys are stable; zh/agents.ts has the same keys. */
export default {};
