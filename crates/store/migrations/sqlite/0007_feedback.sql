-- Feedback to the source and documents: what each stored version is about (a sighting's
-- sighting_of_ref, an opinion's or a note's object_refs), so the sightings, opinions and
-- comments of an object are found through an index. Versions stored before are indexed here.
CREATE TABLE stix_refs (
    community_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    version_key TEXT NOT NULL,
    target_id TEXT NOT NULL,
    PRIMARY KEY (community_id, object_id, version_key, target_id)
);
CREATE INDEX stix_refs_target ON stix_refs (community_id, target_id);
INSERT OR IGNORE INTO stix_refs (community_id, object_id, version_key, target_id) SELECT o.community_id, o.object_id, o.version_key, json_extract(o.raw, '$.sighting_of_ref') FROM stix_objects o WHERE o.object_type = 'sighting' AND json_valid(o.raw) AND json_type(o.raw, '$.sighting_of_ref') = 'text';
INSERT OR IGNORE INTO stix_refs (community_id, object_id, version_key, target_id) SELECT o.community_id, o.object_id, o.version_key, j.value FROM stix_objects o, json_each(o.raw, '$.object_refs') j WHERE o.object_type IN ('opinion', 'note') AND json_valid(o.raw) AND json_type(o.raw, '$.object_refs') = 'array' AND j.type = 'text';
