// `npm run contracts:export`: regenerate libs/contracts/schemas after changing a contract.
import { writeJsonSchemas } from './json-schema.ts';

const written = writeJsonSchemas();
console.log(written.length ? `wrote ${written.join(', ')}` : 'JSON Schemas are up to date');
