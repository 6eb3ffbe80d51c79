/** A kernel module's own list of what it needs, from its .modinfo section ("depends=a,b"). */
export function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf('depends=');
  if (at < 0) return [];
  const end = ko.indexOf(0, at);
  const value = ko.subarray(at + 'depends='.length, end).toString();
  return value.split(',').filter((d) => d !== '');
}

/** Orders modules so each comes after what it depends on (insmod needs that order). */
export function loadOrder(wanted: string[], dependsOf: (name: string) => string[]): string[] {
  const order: string[] = [];
  const visit = (name: string, trail: string[]) => {
    if (order.includes(name) || trail.includes(name)) return;
    for (const dep of dependsOf(name)) visit(dep, [...trail, name]);
    order.push(name);
  };
  for (const name of wanted) visit(name, []);
  return order;
}
