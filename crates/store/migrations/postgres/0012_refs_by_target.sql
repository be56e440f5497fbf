-- What each stored version is about, ordered by the object referred to: the primary key serves
-- the lookups by target, so the separate target index goes and a publish writes one index
-- entry per reference instead of two. The refs of a version are deleted by their whole key.
ALTER TABLE stix_refs DROP CONSTRAINT stix_refs_pkey;
ALTER TABLE stix_refs ADD PRIMARY KEY (community_id, target_id, object_id, version_key);
DROP INDEX stix_refs_target;
