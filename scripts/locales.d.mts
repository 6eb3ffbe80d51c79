export declare const LANGUAGES: string[];
export declare function readCatalogue(top: string, language: string): Record<string, unknown>;
