-- A stored article's claim on the URL its same-site canonical link names, when no
-- article was stored at that URL yet. See the PostgreSQL twin.

CREATE TABLE canonical_claims (
    claim_id    TEXT PRIMARY KEY NOT NULL CHECK (length(claim_id) = 16),
    url         TEXT NOT NULL,
    article_id  TEXT NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL
);

CREATE INDEX canonical_claims_article_id ON canonical_claims (article_id);
