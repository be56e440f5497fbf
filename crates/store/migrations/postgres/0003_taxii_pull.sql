-- Where each `cairn taxii pull` source stopped, so a repeated pull fetches only what is new.
CREATE TABLE taxii_pulls (
    source TEXT PRIMARY KEY,
    added_last TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
