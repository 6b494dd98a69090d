// Byte sizes: parsing and printing live in src/units.ts (the base layer, so frontends can format sizes too).
export { formatSize, parseSize } from '../units.js';
