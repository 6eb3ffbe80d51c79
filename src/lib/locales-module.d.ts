// The catalogues, merged per language at build time (scripts/locales.mjs, catalogueModule): for
// each area, for each key under it, the JSON text of what is there.
declare module 'kvmkit:locales/en' {
  const catalogue: Record<string, Record<string, string>>;
  export default catalogue;
}
declare module 'kvmkit:locales/vi' {
  const catalogue: Record<string, Record<string, string>>;
  export default catalogue;
}
