-- The object key's index in parts by age. A new object goes to the part new objects go to when
-- it is stored, `(s >> 15) + 1` for the table's sequence `s` (a new part every 32,768 rows,
-- `crate::objects::KEY_PART_BITS`), and every later version of it to the same part; the index
-- is on (key_part, object_key). A publish of new objects then adds entries to the newest part
-- only: 1,000 random keys changed about 1,050 of the 5,000 pages of the one index over a
-- million objects, and change the newest part's couple of hundred. The other versions of a
-- row are one seek away (same part, same key); a read by id alone seeks every part. No part
-- below the one new objects go to gains a key again (the sequence only grows), so the bulk
-- writer keeps the keys of those in memory (`crate::key_prints`). The rows already stored form
-- part 0.
ALTER TABLE stix_objects ADD COLUMN key_part INTEGER NOT NULL DEFAULT 0;
DROP INDEX stix_objects_key;
CREATE INDEX stix_objects_key_part ON stix_objects (key_part, object_key);
