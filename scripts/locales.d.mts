export declare const LANGUAGES: string[];
export declare function readCatalogue(top: string, language: string): Record<string, unknown>;
export declare function localesPlugin(
  top: string,
  options?: { areas?: Set<string> },
): import('esbuild').Plugin;
export declare function areasNamed(sources: Iterable<string>, known: Iterable<string>): Set<string>;
export declare function catalogueModule(catalogue: Record<string, unknown>): string;
