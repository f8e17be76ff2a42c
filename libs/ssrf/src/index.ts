export { type CheckedUrl, checkUrl, MAX_URL_LENGTH, systemResolver } from './check.ts';
export {
  type AddressCategory,
  type AddressClassification,
  classifyAddress,
  type EmbeddingForm,
} from './classify.ts';
export { allowListSchema } from './config.ts';
export { type SsrfRefusalContext, type SsrfRefusalReason, SsrfRefusedError } from './errors.ts';
export { type VettedLookupOptions, vettedLookup } from './lookup.ts';
export { type ResolvedAddress, type Resolver, type SsrfPolicy, validateSsrfPolicy } from './policy.ts';
