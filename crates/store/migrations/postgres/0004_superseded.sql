-- A version with a later version of the same object is marked superseded, so "the latest version
-- the viewer may see" needs no look at other versions for the (usual) object with one version.
ALTER TABLE stix_objects ADD COLUMN superseded BIGINT NOT NULL DEFAULT 0;
UPDATE stix_objects SET superseded = 1 WHERE EXISTS (SELECT 1 FROM stix_objects n WHERE n.community_id = stix_objects.community_id AND n.object_id = stix_objects.object_id AND n.version_key > stix_objects.version_key);
