// Credentials at rest in this browser: one record in IndexedDB, encrypted with
// AES-GCM under a key that is also kept in IndexedDB, as a CryptoKey made with
// `extractable: false`. Nothing goes to localStorage or sessionStorage.
//
// What this protects: it stops script-level dumps of storage. Script (or an
// extension) that reads IndexedDB gets the ciphertext and a key object whose
// bytes it cannot export. It does not stop a copy of the browser profile:
// Chromium writes a non-extractable key's bytes into the profile's IndexedDB
// files, and such a copy was decrypted offline. Guard the profile (disk
// encryption, OS accounts) as you would a password store.
//
// Contract: loadSealed() -> the stored object or null; saveSealed(object);
// eraseSealed() removes the record and the key. Callers serialise writes
// (vaporforge-refresh.js takes a Web Lock around every write).

const DB_NAME = "vaporforge-connect";
const STORE = "sealed";
const KEY_ID = "key";
const RECORD_ID = "credentials";
const VERSION = 1;
// Binds the ciphertext to its purpose: a record copied from elsewhere fails.
const AAD = new TextEncoder().encode("vaporforge-connect/credentials/v1");

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("The credential store is busy in another tab."));
  });
}

// Runs `work(store)` (which issues requests synchronously) in one transaction;
// resolves with what `work` returned once the transaction has committed.
async function transact(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const out = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(out);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("The credential store refused the change."));
    });
  } finally {
    db.close();
  }
}

async function readBoth() {
  const [key, record] = await transact("readonly", (s) => [s.get(KEY_ID), s.get(RECORD_ID)]);
  return { key: key.result, record: record.result };
}

/** The stored object, or null when there is none or it cannot be opened. */
export async function loadSealed() {
  const { key, record } = await readBoth();
  if (!key || !record || record.v !== VERSION) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: record.iv, additionalData: AAD }, key, record.data);
    return JSON.parse(new TextDecoder().decode(plain));
  } catch {
    return null; // a record from another key: unreadable, treated as absent
  }
}

/** Encrypts `value` (JSON) and stores it, making the key on first use. */
export async function saveSealed(value) {
  let { key } = await readBoth();
  const fresh = !key;
  if (fresh) {
    key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false,
      ["encrypt", "decrypt"]);
  }
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: AAD }, key,
    new TextEncoder().encode(JSON.stringify(value)));
  await transact("readwrite", (s) => {
    if (fresh) s.put(key, KEY_ID);
    s.put({ v: VERSION, iv, data }, RECORD_ID);
  });
}

/** Removes the record and its key. */
export async function eraseSealed() {
  await transact("readwrite", (s) => {
    s.delete(RECORD_ID);
    s.delete(KEY_ID);
  });
}
