// Types of scripts/cli-bundle.mjs, for the TypeScript that imports it (tests, the bench).
export declare const CLI_DIR: string;
export declare const CLI_ENTRY: string;
export declare const bundleState: () => { fresh: true } | { fresh: false; why: string };
export declare const buildCliBundle: () => Promise<{ bytes: number }>;
