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
INSERT INTO stix_refs (community_id, object_id, version_key, target_id) SELECT o.community_id, o.object_id, o.version_key, o.raw::json ->> 'sighting_of_ref' FROM stix_objects o WHERE o.object_type = 'sighting' AND json_typeof(o.raw::json -> 'sighting_of_ref') = 'string' ON CONFLICT DO NOTHING;
INSERT INTO stix_refs (community_id, object_id, version_key, target_id) SELECT DISTINCT o.community_id, o.object_id, o.version_key, r.value FROM stix_objects o CROSS JOIN LATERAL json_array_elements_text(CASE WHEN json_typeof(o.raw::json -> 'object_refs') = 'array' THEN o.raw::json -> 'object_refs' ELSE '[]'::json END) AS r(value) WHERE o.object_type IN ('opinion', 'note') ON CONFLICT DO NOTHING;
