// The catalogues, merged per language at build time (scripts/locales.mjs).
declare module 'kvmkit:locales/en' {
  const catalogue: Record<string, unknown>;
  export default catalogue;
}
declare module 'kvmkit:locales/vi' {
  const catalogue: Record<string, unknown>;
  export default catalogue;
}
