/** How each implementation is named and coloured in tables and the chart, in column order. */

export interface ImplStyle {
  label: string;
  /** Okabe-Ito colours: told apart with any kind of colour vision. */
  color: string;
}

export const IMPLS: Record<string, ImplStyle> = {
  fiber: { label: 'fiber (run/yield)', color: '#D55E00' },
  'fiber.switch': { label: 'fiber (switch)', color: '#E69F00' },
  'fiber.visit-all': { label: 'fiber, scavenges visit all', color: '#F0E442' },
  'fiber.locker': { label: 'fiber, Locker switch', color: '#999999' },
  generator: { label: 'generator', color: '#0072B2' },
  async: { label: 'async/await', color: '#009E73' },
  greenlet: { label: 'greenlet (Python)', color: '#CC79A7' },
  blocking: { label: 'blocking readFileSync', color: '#56B4E9' },
  serve: { label: 'stackful serve', color: '#000000' },
  'serve.workers2': { label: 'stackful serve --workers 2', color: '#666666' },
  node: { label: 'plain node', color: '#56B4E9' },
  gevent: { label: 'gevent (Python)', color: '#CC79A7' },
};

const FALLBACK = ['#000000', '#999999'];

export function implStyle(name: string): ImplStyle {
  const known = IMPLS[name];
  if (known !== undefined) return known;
  const i = [...name].reduce((h, c) => h + c.charCodeAt(0), 0) % FALLBACK.length;
  return { label: name, color: FALLBACK[i]! };
}

/** Known implementations first, in the order above; others after, in the order given. */
export function sortImpls(names: Iterable<string>): string[] {
  const known = Object.keys(IMPLS);
  const rank = (n: string): number => (known.includes(n) ? known.indexOf(n) : known.length);
  return [...new Set(names)].sort((a, b) => rank(a) - rank(b));
}
