declare module 'kvmkit:profiles' {
  const catalog: import('./types.js').ProfileCatalog;
  export default catalog;
}
