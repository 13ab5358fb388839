-- Personal data of students encrypted at rest. The application seals each
-- value (AES-256-GCM keyring, key id inside the ciphertext, associated data
-- naming the column and the student) before it reaches the database;
-- phone_ciphertext already exists. The clear date_of_birth column is kept
-- for compatibility with loaders that still write it: `backend keys
-- rotate-pii` moves any clear value into date_of_birth_ciphertext and
-- clears it, and the application never writes it.

-- +goose Up
ALTER TABLE students
    ADD COLUMN date_of_birth_ciphertext bytea,
    ADD COLUMN address_ciphertext bytea;

-- +goose Down
ALTER TABLE students
    DROP COLUMN address_ciphertext,
    DROP COLUMN date_of_birth_ciphertext;
