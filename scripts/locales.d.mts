export declare const LANGUAGES: string[];
export declare function readCatalogue(top: string, language: string): Record<string, unknown>;
export declare function localesPlugin(top: string): import('esbuild').Plugin;
