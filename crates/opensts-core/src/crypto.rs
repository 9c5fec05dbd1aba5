//! The master key and data keys: AES-256-GCM (aws-lc-rs) with associated data.
//!
//! Sealed format (both [`MasterKey`] and [`DataKey`]):
//! `version (1 byte, = 1) | nonce (12 bytes, random) | ciphertext | tag (16 bytes)`.
//! The associated data is the caller's; use it to bind a blob to what it belongs to (account,
//! access key id, entity, key id, …) so a blob cannot be moved to another row.
//!
//! Nonces are random (96 bits from the OS RNG), so a single key should seal well under 2^32
//! messages; the session-token key ring rotates data keys long before that.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ids::fill_random;

/// Length of master and data keys in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// AES-GCM nonce length.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// First byte of every sealed blob.
pub const SEALED_VERSION: u8 = 1;
/// Bytes a sealed blob adds to its plaintext.
pub const SEALED_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Largest master key file that is read (a key file holds 65 bytes).
pub const MAX_KEY_FILE_LEN: u64 = 4096;

/// Associated-data prefix used by [`MasterKey::wrap_data_key`].
const DATA_KEY_AAD_PREFIX: &[u8] = b"opensts-data-key-v1";

/// Errors of sealing, opening and key decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The blob is too short or has an unknown version byte.
    #[error("sealed data is malformed")]
    Malformed,
    /// Authentication failed: wrong key, wrong associated data or tampered data.
    #[error("decryption failed")]
    Decrypt,
    /// The AEAD (or encoding) failed while sealing; not expected in practice.
    #[error("encryption failed")]
    Seal,
    /// A key could not be decoded.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

/// Errors of reading or creating the master key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("master key file {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("master key file {}: {source}", path.display())]
    Invalid { path: PathBuf, source: CryptoError },
    #[error("master key file {} is not a regular file", path.display())]
    NotAFile { path: PathBuf },
    /// Unix only: the file grants any permission to group or others. The key is not used;
    /// restrict the file to its owner (`chmod 600`).
    #[error(
        "master key file {} is accessible by group or others (mode {mode:03o}); refusing to use it, run `chmod 600` on it",
        path.display()
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },
}

/// Raw key bytes, wiped on drop.
#[derive(Clone)]
struct KeyBytes(Zeroizing<[u8; KEY_LEN]>);

impl KeyBytes {
    fn generate() -> KeyBytes {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        fill_random(k.as_mut());
        KeyBytes(k)
    }

    fn from_slice(bytes: &[u8]) -> Result<KeyBytes, CryptoError> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey("a key must be 32 bytes"));
        }
        k.copy_from_slice(bytes);
        Ok(KeyBytes(k))
    }

    fn ct_eq(&self, other: &KeyBytes) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }

    fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut out = Vec::with_capacity(SEALED_OVERHEAD + plaintext.len());
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        match seal_in_place(&self.0, &nonce, aad, &mut out[1 + NONCE_LEN..]) {
            Ok(tag) => {
                out.extend_from_slice(&tag);
                Ok(out)
            }
            Err(e) => {
                zeroize::Zeroize::zeroize(&mut out);
                Err(e)
            }
        }
    }

    fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < SEALED_OVERHEAD {
            return Err(CryptoError::Malformed);
        }
        let (version, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
        if *version != SEALED_VERSION {
            return Err(CryptoError::Malformed);
        }
        let (nonce, ciphertext) = rest
            .split_first_chunk::<NONCE_LEN>()
            .ok_or(CryptoError::Malformed)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let n = open_in_place(&self.0, nonce, aad, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

fn aead_key(key: &[u8; KEY_LEN]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidKey("AES-256-GCM key setup failed"))
}

/// Encrypts `in_out` in place and returns the tag.
pub(crate) fn seal_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<[u8; TAG_LEN], CryptoError> {
    let key = aead_key(key).map_err(|_| CryptoError::Seal)?;
    let tag = key
        .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
        .map_err(|_| CryptoError::Seal)?;
    let mut out = [0u8; TAG_LEN];
    let tag = tag.as_ref();
    if tag.len() != TAG_LEN {
        return Err(CryptoError::Seal);
    }
    out.copy_from_slice(tag);
    Ok(out)
}

/// Decrypts `ciphertext | tag` in place; returns the plaintext length (the plaintext is
/// `in_out[..n]`).
pub(crate) fn open_in_place(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    in_out: &mut [u8],
) -> Result<usize, CryptoError> {
    if in_out.len() < TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let key = aead_key(key).map_err(|_| CryptoError::Decrypt)?;
    key.open_in_place(Nonce::assume_unique_for_key(*nonce), Aad::from(aad), in_out)
        .map(|p| p.len())
        .map_err(|_| CryptoError::Decrypt)
}

/// The master key: encrypts everything secret at rest (key-ring data keys, secret access
/// keys, TOTP seeds, signing keys). 32 bytes, wiped on drop, never printed.
#[derive(Clone)]
pub struct MasterKey(KeyBytes);

impl MasterKey {
    /// A new random key from the OS RNG.
    pub fn generate() -> MasterKey {
        MasterKey(KeyBytes::generate())
    }

    /// From exactly 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey, CryptoError> {
        KeyBytes::from_slice(bytes).map(MasterKey)
    }

    /// From text: 64 hex digits (either case), or standard base64 (padded or not) of exactly
    /// 32 bytes. Surrounding whitespace (a trailing newline) is ignored.
    pub fn from_encoded(s: &str) -> Result<MasterKey, CryptoError> {
        let s = s.trim();
        let bytes = if s.len() == 2 * KEY_LEN {
            let mut buf = Zeroizing::new([0u8; KEY_LEN]);
            hex::decode_to_slice(s, buf.as_mut())
                .map_err(|_| CryptoError::InvalidKey("64 characters but not hex"))?;
            Zeroizing::new(buf.to_vec())
        } else {
            let mut buf = Zeroizing::new(Vec::with_capacity(48));
            let engine = if s.ends_with('=') {
                &base64::engine::general_purpose::STANDARD
            } else {
                &base64::engine::general_purpose::STANDARD_NO_PAD
            };
            engine.decode_vec(s, &mut buf).map_err(|_| {
                CryptoError::InvalidKey("expected 64 hex characters or base64 of 32 bytes")
            })?;
            buf
        };
        if bytes.len() != KEY_LEN {
            return Err(CryptoError::InvalidKey(
                "expected 64 hex characters or base64 of 32 bytes",
            ));
        }
        MasterKey::from_bytes(&bytes)
    }

    /// Lower-case hex encoding (the key file format).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.0.as_ref()))
    }

    /// Reads a key file written by [`MasterKey::load_or_create`] (or by hand: 64 hex digits
    /// or base64 of 32 bytes, surrounding whitespace ignored).
    ///
    /// On unix the file must not grant any permission to group or others
    /// ([`KeyFileError::InsecurePermissions`]), like ssh does for private keys. When the file
    /// comes from a Kubernetes secret, mount it with `defaultMode: 0400` (or pass the key in
    /// `OPENSTS_MASTER_KEY`).
    pub fn load(path: &Path) -> Result<MasterKey, KeyFileError> {
        read_key_file(path)
    }

    /// Loads the key file at `path`, or, if it does not exist, generates a key and writes it
    /// there. Returns the key and whether it was created.
    ///
    /// Creation is atomic and never overwrites: the key is written (mode 0600 from the
    /// `open` call on, never wider) and fsynced to a temporary file in the same directory,
    /// which is then hard-linked to `path`; the directory is fsynced. If another process won
    /// the race, its key is loaded instead. On filesystems without hard links the file is
    /// created directly with `O_CREAT|O_EXCL` and mode 0600. The parent directory must exist.
    ///
    /// Loading applies the same checks as [`MasterKey::load`]; a group/world-accessible file is
    /// refused.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), KeyFileError> {
        match read_key_file(path) {
            Ok(k) => return Ok((k, false)),
            Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let key = MasterKey::generate();
        match create_key_file(path, &key) {
            Ok(()) => Ok((key, true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                read_key_file(path).map(|k| (k, false))
            }
            Err(source) => Err(KeyFileError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Seals `plaintext` bound to `aad` (see the module docs for the format).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.seal(plaintext, aad)
    }

    /// Opens a blob sealed by [`MasterKey::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.0.open(sealed, aad)
    }

    /// Seals a key-ring data key for storage, bound to its key id
    /// (AAD = `"opensts-data-key-v1" | key_id u32 BE`).
    pub fn wrap_data_key(&self, key_id: u32, key: &DataKey) -> Result<Vec<u8>, CryptoError> {
        self.seal(key.0.0.as_ref(), &data_key_aad(key_id))
    }

    /// Opens a data key sealed by [`MasterKey::wrap_data_key`] under the same key id.
    pub fn unwrap_data_key(&self, key_id: u32, sealed: &[u8]) -> Result<DataKey, CryptoError> {
        let bytes = self.open(sealed, &data_key_aad(key_id))?;
        DataKey::from_bytes(&bytes)
    }
}

fn data_key_aad(key_id: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DATA_KEY_AAD_PREFIX.len() + 4);
    aad.extend_from_slice(DATA_KEY_AAD_PREFIX);
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Constant-time comparison.
impl PartialEq for MasterKey {
    fn eq(&self, other: &MasterKey) -> bool {
        self.0.ct_eq(&other.0)
    }
}

impl Eq for MasterKey {}

/// A data key (e.g. a session-token key-ring key): 32 bytes, same seal/open as [`MasterKey`].
#[derive(Clone)]
pub struct DataKey(KeyBytes);

impl DataKey {
    /// A new random key from the OS RNG.
    pub fn generate() -> DataKey {
        DataKey(KeyBytes::generate())
    }

    /// From exactly 32 raw bytes (as returned by [`DataKey::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<DataKey, CryptoError> {
        KeyBytes::from_slice(bytes).map(DataKey)
    }

    /// The raw 32 bytes, for storage (seal them with [`MasterKey::wrap_data_key`] first).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.0.to_vec())
    }

    /// Seals `plaintext` bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0.seal(plaintext, aad)
    }

    /// Opens a blob sealed by [`DataKey::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        self.0.open(sealed, aad)
    }

    pub(crate) fn raw(&self) -> &[u8; KEY_LEN] {
        &self.0.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(***)")
    }
}

/// Constant-time comparison.
impl PartialEq for DataKey {
    fn eq(&self, other: &DataKey) -> bool {
        self.0.ct_eq(&other.0)
    }
}

impl Eq for DataKey {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read_key_file(path: &Path) -> Result<MasterKey, KeyFileError> {
    let file = File::open(path).map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_owned(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::InsecurePermissions {
                path: path.to_owned(),
                mode,
            });
        }
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(2 * MAX_KEY_FILE_LEN as usize));
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(path))?;
    let invalid = |source| KeyFileError::Invalid {
        path: path.to_owned(),
        source,
    };
    if buf.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(invalid(CryptoError::InvalidKey("file too large")));
    }
    let text =
        std::str::from_utf8(&buf).map_err(|_| invalid(CryptoError::InvalidKey("not text")))?;
    MasterKey::from_encoded(text).map_err(invalid)
}

/// Opens `path` for writing with `O_CREAT|O_EXCL` and (on unix) mode 0600.
fn create_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn write_key(file: &mut File, key: &MasterKey) -> io::Result<()> {
    let mut text = key.to_hex();
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn create_key_file(path: &Path, key: &MasterKey) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp-{}", hex::encode(suffix)));
    let tmp = dir.join(tmp_name);

    let mut file = create_private(&tmp)?;
    if let Err(e) = write_key(&mut file, key) {
        drop(file);
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    drop(file);
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) => {
            // No hard links here (some FUSE / network filesystems): create the file
            // directly. Still exclusive and 0600, just not atomic for concurrent readers.
            let mut file = create_private(path)?;
            if let Err(e) = write_key(&mut file, key) {
                drop(file);
                let _ = fs::remove_file(path);
                return Err(e);
            }
        }
    }
    sync_dir(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip() {
        let k = MasterKey::generate();
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let sealed = k.seal(&pt, b"aad").unwrap();
            assert_eq!(sealed.len(), pt.len() + SEALED_OVERHEAD);
            assert_eq!(sealed[0], SEALED_VERSION);
            assert_eq!(k.open(&sealed, b"aad").unwrap().as_slice(), pt.as_slice());
        }
        // Random nonces: the same plaintext seals differently.
        assert_ne!(k.seal(b"x", b"").unwrap(), k.seal(b"x", b"").unwrap());
    }

    #[test]
    fn tamper_any_byte_fails() {
        let k = DataKey::generate();
        let sealed = k.seal(b"secret access key", b"acct/AKIA").unwrap();
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(k.open(&t, b"acct/AKIA").is_err(), "byte {i}");
        }
        assert_eq!(
            k.open(&sealed[..sealed.len() - 1], b"acct/AKIA")
                .unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(
            k.open(&sealed[..SEALED_OVERHEAD - 1], b"acct/AKIA")
                .unwrap_err(),
            CryptoError::Malformed
        );
        assert_eq!(k.open(&[], b"").unwrap_err(), CryptoError::Malformed);
        let mut v = sealed.clone();
        v[0] = 2;
        assert_eq!(
            k.open(&v, b"acct/AKIA").unwrap_err(),
            CryptoError::Malformed
        );
    }

    #[test]
    fn wrong_aad_or_key_fails() {
        let k = MasterKey::generate();
        let sealed = k.seal(b"pt", b"a").unwrap();
        assert_eq!(k.open(&sealed, b"b").unwrap_err(), CryptoError::Decrypt);
        assert_eq!(k.open(&sealed, b"").unwrap_err(), CryptoError::Decrypt);
        assert_eq!(
            MasterKey::generate().open(&sealed, b"a").unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn encodings() {
        let hex_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let k = MasterKey::from_encoded(hex_key).unwrap();
        assert_eq!(k.to_hex().as_str(), hex_key);
        assert_eq!(MasterKey::from_encoded(&hex_key.to_uppercase()).unwrap(), k);
        assert_eq!(
            MasterKey::from_encoded(&format!("  {hex_key}\n")).unwrap(),
            k
        );
        let bytes: Vec<u8> = (0u8..32).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(b64.len(), 44);
        assert_eq!(MasterKey::from_encoded(&b64).unwrap(), k);
        assert_eq!(
            MasterKey::from_encoded(b64.trim_end_matches('=')).unwrap(),
            k
        );
        assert_eq!(MasterKey::from_bytes(&bytes).unwrap(), k);

        for bad in [
            "",
            "00",
            &hex_key[..62],
            &format!("{hex_key}00"),
            &hex_key.replace('0', "g"),
            // base64 of 31 and 33 bytes
            &base64::engine::general_purpose::STANDARD.encode([1u8; 31]),
            &base64::engine::general_purpose::STANDARD.encode([1u8; 33]),
            // URL-safe alphabet is not standard base64
            &base64::engine::general_purpose::URL_SAFE.encode([0xffu8; 32]),
            "not a key at all",
        ] {
            assert!(MasterKey::from_encoded(bad).is_err(), "{bad:?}");
        }
        assert!(MasterKey::from_bytes(&[0u8; 31]).is_err());
        assert!(DataKey::from_bytes(&[0u8; 33]).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let k = MasterKey::from_encoded(&"ab".repeat(32)).unwrap();
        assert_eq!(format!("{k:?}"), "MasterKey(***)");
        assert_eq!(format!("{:?}", DataKey::generate()), "DataKey(***)");
    }

    #[test]
    fn data_key_bytes_and_wrapping() {
        let mk = MasterKey::generate();
        let dk = DataKey::generate();
        assert_eq!(DataKey::from_bytes(&dk.to_bytes()).unwrap(), dk);
        let wrapped = mk.wrap_data_key(7, &dk).unwrap();
        assert_eq!(mk.unwrap_data_key(7, &wrapped).unwrap(), dk);
        assert!(mk.unwrap_data_key(8, &wrapped).is_err());
        assert!(MasterKey::generate().unwrap_data_key(7, &wrapped).is_err());
    }

    #[test]
    fn key_file_create_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (k1, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        let (k2, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(k1, k2);
        assert_eq!(MasterKey::load(&path).unwrap(), k1);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", k1.to_hex().as_str()));
        // Only the key file is left behind (no temporary files).
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("master.key")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn key_file_missing_dir_and_bad_content() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope").join("master.key");
        assert!(matches!(
            MasterKey::load_or_create(&missing),
            Err(KeyFileError::Io { .. })
        ));
        assert!(matches!(
            MasterKey::load(&dir.path().join("absent")),
            Err(KeyFileError::Io { .. })
        ));
        assert!(matches!(
            MasterKey::load(dir.path()),
            Err(KeyFileError::NotAFile { .. })
        ));

        let bad = dir.path().join("bad.key");
        let mut f = create_private(&bad).unwrap();
        f.write_all(b"garbage\n").unwrap();
        drop(f);
        assert!(matches!(
            MasterKey::load_or_create(&bad),
            Err(KeyFileError::Invalid { .. })
        ));

        let big = dir.path().join("big.key");
        let mut f = create_private(&big).unwrap();
        f.write_all(&vec![b'a'; 10_000]).unwrap();
        drop(f);
        assert!(matches!(
            MasterKey::load(&big),
            Err(KeyFileError::Invalid { .. })
        ));

        let hand = dir.path().join("hand.key");
        let mut f = create_private(&hand).unwrap();
        f.write_all(
            base64::engine::general_purpose::STANDARD
                .encode([9u8; 32])
                .as_bytes(),
        )
        .unwrap();
        drop(f);
        assert_eq!(
            MasterKey::load(&hand).unwrap(),
            MasterKey::from_bytes(&[9u8; 32]).unwrap()
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_with_loose_permissions_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (_k, _) = MasterKey::load_or_create(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o602] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            match MasterKey::load_or_create(&path) {
                Err(KeyFileError::InsecurePermissions { mode: m, .. }) => assert_eq!(m, mode),
                other => panic!("mode {mode:o}: {other:?}"),
            }
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
        assert!(MasterKey::load(&path).is_ok());
    }

    #[test]
    fn concurrent_creation_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let p = path.clone();
                std::thread::spawn(move || MasterKey::load_or_create(&p).unwrap())
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|(_, c)| *c).count(), 1);
        for (k, _) in &results {
            assert_eq!(k, &results[0].0);
        }
    }
}
