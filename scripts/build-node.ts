/**
 * Compiles the product's processes into dist/node (scripts/lib/compile.ts):
 *
 *   npm run build:node
 */
import { compileProduct } from './lib/compile';

await compileProduct((line) => process.stdout.write(`${line}\n`));
