// The package version, reported by the CLI and recorded in manifests.
export const VERSION = '0.2.0';
