// The small records frontends keep beside archives (the S3 API's bucket table and key index), and their keys.
import type { Backend } from '../store/backend.js';
import { RecordStore } from '../archive/records.js';

export type { RecordStore } from '../archive/records.js';
export { S3_BUCKETS_KEY, S3_KEYS_PREFIX, S3_META_PREFIX, S3_OBJECTS_PREFIX, s3ObjectBucket, s3ObjectKey, s3RecordBucket, s3RecordKey } from '../layout/keys.js';

/** The records of the store set `store` (writes go to every store of it). */
export function openRecords(store: Backend): RecordStore {
  return new RecordStore(store);
}
